/*  kprelay - the relay of bench/relay.h as a program: links between
    cluster nodes that tests and kpbench delay, cut and heal.

    Commands come from a ZeroMQ REP socket (--control: one command a
    request, its answer the reply) and, with --stdin, from standard input
    (one a line, answers on standard output).
*/
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

static const char *s_help =
    "usage: kprelay [--control ENDPOINT] [--stdin] [--link FROM>TO LISTEN TARGET]...\n\n"
    "Forwards TCP connections between cluster nodes: a link listens on LISTEN and\n"
    "forwards to TARGET; node FROM reaches node TO through it. Traffic between\n"
    "nodes can then be delayed, cut (held, not lost) and healed:\n\n"
    "  link FROM>TO LISTEN TARGET   add a link (port 0: any free port; answers its port)\n"
    "  delay FROM TO MS [both]      bytes from FROM to TO wait MS ms\n"
    "  cut FROM TO [both]           bytes from FROM to TO are held until a heal\n"
    "  heal FROM TO [both]          end a cut\n"
    "  reset FROM TO                close the open connections between them\n"
    "  status                       one line per link: bytes, held bytes, cut, delay\n\n"
    "FROM and TO are comma-separated lists of patterns (node-*, node-3,node-4).\n\n"
    "  -C, --control ENDPOINT   bind a ZeroMQ REP socket there for commands\n"
    "  -s, --stdin              read commands from standard input too\n"
    "  -l, --link NAME LISTEN TARGET   a link to make at start (repeatable)\n"
    "  -h, --help               this help\n\n"
    "Prints 'ready' once every link listens.\n";

static int s_serve(kp_relay_t *relay, zsock_t *control, bool use_stdin)
{
    zmq_pollitem_t items[2] = {{control ? zsock_resolve(control) : NULL, 0, ZMQ_POLLIN, 0},
                               {NULL, STDIN_FILENO, ZMQ_POLLIN, 0}};
    zmq_pollitem_t *first = control ? &items[0] : &items[1];
    int count = (control ? 1 : 0) + (use_stdin ? 1 : 0);
    if (count == 0) {
        while (!zsys_interrupted)
            zclock_sleep(1000);
        return 0;
    }
    char line[1024];
    while (!zsys_interrupted) {
        if (zmq_poll(first, count, -1) < 0)
            continue;
        if (control && (items[0].revents & ZMQ_POLLIN)) {
            char *command = zstr_recv(control);
            char *answer = kp_relay_command(relay, command ? command : "");
            zstr_send(control, answer);
            free(answer);
            zstr_free(&command);
        }
        if (use_stdin && (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            if (!fgets(line, sizeof line, stdin))
                return 0; //  end of input: done
            char *answer = kp_relay_command(relay, line);
            printf("%s\n", answer);
            fflush(stdout);
            free(answer);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {{"control", required_argument, NULL, 'C'},
                                          {"stdin", no_argument, NULL, 's'},
                                          {"link", required_argument, NULL, 'l'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *control_at = NULL;
    bool use_stdin = false;
    zsys_init();
    kp_relay_t *relay = kp_relay_new();
    if (!relay) {
        fprintf(stderr, "kprelay: cannot start the relay's thread\n");
        return 1;
    }
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "C:sl:h", longs, NULL)) != -1) {
        char err[512];
        if (c == 'C')
            control_at = optarg;
        else if (c == 's')
            use_stdin = true;
        else if (c == 'l' && optind + 1 < argc) {
            //  --link takes three values: NAME LISTEN TARGET.
            if (kp_relay_link(relay, optarg, argv[optind], argv[optind + 1], err, sizeof err) < 0) {
                fprintf(stderr, "kprelay: link %s: %s\n", optarg, err);
                rc = 1;
            }
            optind += 2;
        } else if (c == 'h') {
            fputs(s_help, stdout);
            kp_relay_destroy(&relay);
            return 0;
        } else {
            fprintf(stderr, "kprelay: bad option or missing value; see --help\n");
            rc = 2;
        }
    }
    zsock_t *control = NULL;
    if (rc == 0 && control_at) {
        control = zsock_new(ZMQ_REP);
        if (!control || zsock_bind(control, "%s", control_at) < 0) {
            fprintf(stderr, "kprelay: cannot bind the control socket at %s: %s\n", control_at,
                    zmq_strerror(zmq_errno()));
            rc = 1;
        }
    }
    if (rc == 0) {
        printf("ready\n");
        fflush(stdout);
        rc = s_serve(relay, control, use_stdin);
    }
    zsock_destroy(&control);
    kp_relay_destroy(&relay);
    return rc;
}
