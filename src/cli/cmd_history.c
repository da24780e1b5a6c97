/* src/cli/cmd_history.c — placeholder while the command is being written (cli layer). */
#include "cli.h"

int cmd_history(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_fail("history: not available yet");
}

int cmd_cat(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_fail("cat: not available yet");
}

int cmd_ls(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_fail("ls: not available yet");
}

