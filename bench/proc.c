/*  proc.c - child processes of kpbench. */
#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t kp_proc_spawn(char *const argv[], const char *log_path, char *err, size_t errlen)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open log file %s: %s", log_path, strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork for %s: %s", argv[0], strerror(errno));
        close(fd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127); //  the bench died before we got here
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "kpbench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    return pid;
}

int kp_proc_wait(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0;; waited += 10) {
        int st;
        pid_t rc = waitpid(pid, &st, WNOHANG);
        if (rc == pid) {
            if (status)
                *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return 0;
        }
        if (rc < 0) {
            if (status)
                *status = -1;
            return 0; //  not our child (any more)
        }
        if (waited >= timeout_ms)
            return -1;
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    }
}

void kp_proc_stop(pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    if (kp_proc_wait(pid, grace_ms, NULL) == 0)
        return;
    kill(pid, SIGKILL);
    kp_proc_wait(pid, 5000, NULL);
}

void kp_proc_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    kp_proc_wait(pid, 5000, NULL);
}

//  Reads a /proc stat file: the command name (into name, if not NULL),
//  the CPU time in seconds and the start time. 0, or -1.
static int s_stat_read(const char *path, char name[16], double *cpu_s, uint64_t *started)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    bool read = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    //  Field 2, the command name, may hold spaces and parentheses: the
    //  fields we want are counted from the last ')'.
    char *open = read ? strchr(line, '(') : NULL;
    char *at = read ? strrchr(line, ')') : NULL;
    if (!open || !at || at < open)
        return -1;
    if (name)
        snprintf(name, 16, "%.*s", (int)(at - open - 1), open + 1);
    unsigned long long utime = 0, stime = 0, start = 0;
    //  Fields 3 to 22: state, then 10 we skip, utime, stime, 6 more, start.
    if (sscanf(at + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu",
               &utime, &stime, &start) != 3)
        return -1;
    long tick = sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(utime + stime) / (tick > 0 ? tick : 100);
    *started = start;
    return 0;
}

int kp_proc_cpu(pid_t pid, double *cpu_s, uint64_t *started)
{
    if (pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return s_stat_read(path, NULL, cpu_s, started);
}

int kp_proc_threads(pid_t pid, kp_proc_thread_t *threads, int max)
{
    if (pid <= 0)
        return -1;
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        char name[16];
        double cpu;
        uint64_t started;
        long tid = strtol(entry->d_name, NULL, 10);
        snprintf(path, sizeof path, "/proc/%d/task/%ld/stat", (int)pid, tid);
        if (tid <= 0 || s_stat_read(path, name, &cpu, &started))
            continue;
        if (tid == pid)
            snprintf(name, sizeof name, "main");
        int i = 0;
        while (i < count && strcmp(threads[i].name, name))
            i++;
        if (i == count) {
            if (count == max)
                continue;
            snprintf(threads[count].name, sizeof threads[count].name, "%s", name);
            threads[count++].cpu_s = 0;
        }
        threads[i].cpu_s += cpu;
    }
    closedir(dir);
    return count;
}

double kp_proc_self_cpu(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0)
        return 0;
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int kp_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

bool kp_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool open = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return open;
}

static bool s_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int kp_find_program(const char *name, const char *env, char *out, size_t size, char *err,
                    size_t errlen)
{
    const char *given = env ? getenv(env) : NULL;
    if (given && *given) {
        if (!s_executable(given)) {
            snprintf(err, errlen, "%s=%s is not an executable file; fix or unset %s", env, given,
                     env);
            return -1;
        }
        snprintf(out, size, "%s", given);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *dir = dirname(self);
        const char *subdirs[] = {"", "/../node", "/../cli"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(out, size, "%s%s/%s", dir, subdirs[i], name);
            if (s_executable(out))
                return 0;
        }
    }
    const char *path = getenv("PATH");
    if (path) {
        char *copy = strdup(path);
        for (char *save = NULL, *d = strtok_r(copy, ":", &save); d;
             d = strtok_r(NULL, ":", &save)) {
            snprintf(out, size, "%s/%s", d, name);
            if (s_executable(out)) {
                free(copy);
                return 0;
            }
        }
        free(copy);
    }
    snprintf(err, errlen,
             "cannot find %s beside kpbench, in the build tree or in PATH; set %s to its path",
             name, env ? env : "PATH");
    return -1;
}
