/* src/cli/cmd_diff.c — placeholder while the command is being written (cli layer). */
#include "cli.h"

int cmd_diff(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_fail("diff: not available yet");
}

