/*  commands.h - the sub-commands of kpctl.

    Each takes the arguments after "kpctl" (argv[0] is the sub-command's
    name) and returns the exit status: 0 success, 1 failure (or, for call,
    any status but OK), 2 usage error. Each prints its own --help.
*/
#ifndef KP_CLI_COMMANDS_H_INCLUDED
#define KP_CLI_COMMANDS_H_INCLUDED

int kpctl_directory(int argc, char **argv);
int kpctl_cluster(int argc, char **argv);     //  cmd_cluster.c   //  cmd_directory.c
int kpctl_call(int argc, char **argv);        //  cmd_call.c
int kpctl_provider(int argc, char **argv);    //  cmd_provider.c
int kpctl_status(int argc, char **argv);      //  cmd_admin.c
int kpctl_maintenance(int argc, char **argv); //  cmd_admin.c
int kpctl_log(int argc, char **argv);         //  cmd_log.c
int kpctl_keys(int argc, char **argv);        //  cmd_keys.c
int kpctl_log_keys(int argc, char **argv);    //  cmd_log.c: kpctl keys --out FILE
int kpctl_report(int argc, char **argv);      //  cmd_report.c
int kpctl_mutations(int argc, char **argv);   //  cmd_mutations.c
int kpctl_register(int argc, char **argv);    //  cmd_register.c

#endif
