/* The serial command protocol (docs/interfaces.md, "Test guest serial protocol"). */
#ifndef BROOD_GUEST_COMMANDS_H
#define BROOD_GUEST_COMMANDS_H

/* Runs one command line (no line terminator) and sends its one-line answer. */
void command_run(char *line);

#endif
