/* src/cli/cmd_revert.c — placeholder while the command is being written (cli layer). */
#include "cli.h"

int cmd_revert(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_fail("revert: not available yet");
}

