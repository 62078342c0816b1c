/*  proc.h - child processes of kpbench: nodes, providers, nats-server.

    Children are started with their output in a log file and die with
    kpbench (PR_SET_PDEATHSIG), so that a crashed or killed bench leaves
    nothing running.
*/
#ifndef KP_PROC_H_INCLUDED
#define KP_PROC_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

//  Starts argv[0] (a path, or a name looked up in PATH) with stdout and
//  stderr appended to log_path. Returns the pid, or -1 with err filled.
pid_t kp_proc_spawn(char *const argv[], const char *log_path, char *err, size_t errlen);

//  Waits up to timeout_ms for pid to exit. Returns 0 and its exit status
//  (or 128 + signal) in *status, or -1 if it is still running.
int kp_proc_wait(pid_t pid, int timeout_ms, int *status);

//  SIGTERM, then SIGKILL after grace_ms; reaps the child.
void kp_proc_stop(pid_t pid, int grace_ms);

//  SIGKILL and reap, at once (chaos).
void kp_proc_kill(pid_t pid);

//  CPU time (user + system, all threads) process pid has used so far, in
//  seconds, from /proc/PID/stat, and when it started (clock ticks after
//  boot): a different start time means the pid now names another process.
//  0, or -1 if there is no such process (any more).
int kp_proc_cpu(pid_t pid, double *cpu_s, uint64_t *started);

//  One thread's name and the CPU time (user + system) it used, seconds.
typedef struct {
    char name[16];
    double cpu_s;
} kp_proc_thread_t;

//  The CPU time of pid's threads so far, summed by thread name (threads
//  that share a name are one entry); the process's first thread is
//  "main". Up to max names: their count, or -1 if pid is gone.
int kp_proc_threads(pid_t pid, kp_proc_thread_t *threads, int max);

//  CPU time (user + system, all threads) kpbench itself has used so far.
double kp_proc_self_cpu(void);

//  A TCP port on 127.0.0.1 that was free a moment ago; -1 on error.
int kp_free_port(void);

//  True if something accepts TCP connections on 127.0.0.1:port.
bool kp_port_open(int port);

//  Finds program name: the environment variable env if set, else beside
//  the running executable (or in its ../node, ../cli siblings: the build
//  tree), else PATH. Writes the path to out; 0, or -1 with err filled.
int kp_find_program(const char *name, const char *env, char *out, size_t size, char *err,
                    size_t errlen);

#endif
