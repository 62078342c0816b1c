/*  config.h - the cluster file: one ZPL file (CZMQ's zconfig) per cluster.

      cluster
          name = "demo"
          heartbeat = 1000          # ms between heartbeats; 3 missed = dead
          max-frame = 1048576       # bytes; larger frames are refused
          deadline = 3000           # ms, default request deadline
          log-key = "keys/log.key"  # Ed25519 private key of the privacy log
          log-retention-days = 3653
      node
          node-1
              site = "brussels"
              data = "var/node-1"
              client = "tcp://127.0.0.1:7100"
              worker = "tcp://127.0.0.1:7101"
              admin = "tcp://127.0.0.1:7102"

    Relative paths are relative to the working directory of the program.
*/
#ifndef KP_CONFIG_H_INCLUDED
#define KP_CONFIG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define KP_CONFIG_MAX_NODES 16
#define KP_CONFIG_NAME 64
#define KP_CONFIG_TEXT 256
#define KP_CONFIG_MAX_FILE (1 << 20) //  bytes; a cluster file is a page or two
#define KP_CONFIG_ERR 400            //  room for kp_config_parse's problem

typedef struct {
    char name[KP_CONFIG_NAME];
    char site[KP_CONFIG_NAME];
    char data[KP_CONFIG_TEXT];
    char client[KP_CONFIG_TEXT]; //  ZeroMQ endpoints
    char worker[KP_CONFIG_TEXT];
    char admin[KP_CONFIG_TEXT];
} kp_node_config_t;

typedef struct {
    char name[KP_CONFIG_NAME];
    uint32_t heartbeat_ms;
    size_t max_frame;
    uint32_t deadline_ms;
    char log_key[KP_CONFIG_TEXT]; //  "" when unset: checkpoints unsigned
    uint32_t log_retention_days;
    size_t node_count;
    kp_node_config_t nodes[KP_CONFIG_MAX_NODES];
} kp_cluster_config_t;

//  Reads and checks the cluster file. Returns 0, or -1 with the problem
//  (and the fix) written to err. Every number is range-checked: one out
//  of range (also past 64 bits) is refused with its line.
int kp_config_load(const char *path, kp_cluster_config_t *out, char *err, size_t errlen);

//  The same for the text of a cluster file (NUL-terminated). The problem
//  names the line, not the file.
int kp_config_parse(const char *text, kp_cluster_config_t *out, char *err, size_t errlen);

//  The node called name; the first node when name is NULL; NULL if none.
const kp_node_config_t *kp_config_node(const kp_cluster_config_t *config, const char *name);

#endif
