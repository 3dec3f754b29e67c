/* Subcommands of the jailrun program. Each lives in src/cli/cmd_<name>.c and returns the
 * process exit status. */
#pragma once

int jr_cmd_exec(int argc, char **argv);
int jr_cmd_run(int argc, char **argv);
int jr_cmd_rootfs(int argc, char **argv);
int jr_cmd_broker(int argc, char **argv);
int jr_cmd_serve(int argc, char **argv);
int jr_cmd_config(int argc, char **argv);
int jr_cmd_doctor(int argc, char **argv);
