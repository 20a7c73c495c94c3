/* tests/unit/node/test_runfile.c: node.lock and api.json, which commands read to find the
 * node: one node per profile, and a file that is not a live node's never counts as one. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "failalloc.h"
#include "node/runfile.h"

static struct failalloc fa;
static struct sotto_env env;
static char dir[64], path[128];

static void setup(void)
{
    failalloc_env(&env, &fa, 0);
    snprintf(dir, sizeof(dir), "/tmp/sotto-runfile-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/api.json", dir);
}

static void teardown(void)
{
    char cmd[96];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(fa.live, 0);
}

TestSuite(runfile, .init = setup, .fini = teardown);

static void write_text(const char *text, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    fchmod(fd, mode);
    close(fd);
}

Test(runfile, one_node_holds_the_lock_and_it_frees_when_the_node_ends)
{
    int a, b;

    cr_assert_eq(node_lock_take(dir, &a), SOTTO_OK);
    cr_assert_eq(node_lock_take(dir, &b), SOTTO_EEXIST, "a second node of the profile");
    cr_assert_eq(b, -1);
    close(a);
    cr_assert_eq(node_lock_take(dir, &b), SOTTO_OK, "free once the first is gone");
    close(b);
}

Test(runfile, what_the_node_writes_is_what_a_command_reads)
{
    struct node_runinfo in = {.port = 8767, .pid = getpid()}, out;
    struct stat st;

    node_token_new(&env, in.token);
    cr_assert_eq(strlen(in.token), NODE_TOKEN_LEN);
    cr_assert_eq(node_runfile_write(dir, &in), SOTTO_OK);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_OK);
    cr_assert_eq(out.port, 8767);
    cr_assert_eq(out.pid, getpid());
    cr_assert_str_eq(out.token, in.token);
    node_runfile_remove(&env, dir);
    cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_ENOENT);
}

Test(runfile, a_file_left_by_a_dead_node_means_no_node)
{
    struct node_runinfo in = {.port = 8767}, out;
    pid_t child = fork();

    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(0);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    in.pid = child;
    node_token_new(&env, in.token);
    cr_assert_eq(node_runfile_write(dir, &in), SOTTO_OK);
    cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_ENOENT);
    node_runfile_remove(&env, dir); /* not ours: left alone */
    cr_assert_eq(access(path, F_OK), 0);
}

Test(runfile, a_file_others_can_read_or_that_is_not_a_nodes_is_refused)
{
    char tok[NODE_TOKEN_LEN + 1], text[256], *big;
    struct node_runinfo out;
    const char *bad[] = {
            "",
            "[]",
            "{}",
            "{\"port\":8767,\"pid\":1}",
            "not json",
            "{\"port\":0,\"pid\":1,\"token\":\"%s\"}",
            "{\"port\":65536,\"pid\":1,\"token\":\"%s\"}",
            "{\"port\":8767,\"pid\":-1,\"token\":\"%s\"}",
            "{\"port\":\"8767\",\"pid\":1,\"token\":\"%s\"}",
            "{\"port\":8767,\"pid\":1,\"token\":\"%s\",\"port\":1}",
            "{\"port\":8767,\"pid\":1,\"token\":\"ABCDEF\"}",
    };

    node_token_new(&env, tok);
    snprintf(text, sizeof(text), "{\"port\":8767,\"pid\":%ld,\"token\":\"%s\"}", (long)getpid(),
             tok);
    write_text(text, 0644);
    cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_EPERM, "a token others can read");
    write_text(text, 0600);
    cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), bad[i], tok);
        write_text(text, 0600);
        cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_ECORRUPT, "%s", text);
        cr_assert_eq(out.token[0], '\0', "nothing of a refused file is kept");
    }
    big = calloc(1, NODE_RUNFILE_MAX + 2);
    memset(big, ' ', NODE_RUNFILE_MAX + 1);
    write_text(big, 0600);
    cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_ECORRUPT, "over the size cap");
    free(big);
    unlink(path);
    cr_assert_eq(symlink("/etc/hostname", path), 0);
    cr_assert_eq(node_runfile_read(&env, dir, &out), SOTTO_ECORRUPT, "a symbolic link");
}

Test(runfile, parsing_accepts_what_a_node_writes_and_ignores_members_it_does_not_know)
{
    const char tok[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char text[256];
    uint8_t *big;
    struct node_runinfo out;

    snprintf(text, sizeof(text), "{\"port\":8767,\"pid\":99999999,\"token\":\"%s\"}", tok);
    cr_assert_eq(node_runfile_parse((const uint8_t *)text, strlen(text), &out), SOTTO_ECORRUPT,
                 "a pid above Linux's ceiling");
    snprintf(text, sizeof(text),
             "{ \"token\": \"%s\", \"pid\": 4194304, \"port\": 1, \"v\": [] }\n", tok);
    cr_assert_eq(node_runfile_parse((const uint8_t *)text, strlen(text), &out), SOTTO_OK);
    cr_assert_eq(out.port, 1);
    cr_assert_eq(out.pid, 4194304, "no process needs to run: parsing asks nothing of the system");
    cr_assert_str_eq(out.token, tok);
    big = malloc(NODE_RUNFILE_MAX + 1);
    cr_assert_not_null(big);
    memset(big, ' ', NODE_RUNFILE_MAX + 1);
    memcpy(big, text, strlen(text));
    cr_assert_eq(node_runfile_parse(big, NODE_RUNFILE_MAX, &out), SOTTO_OK, "blanks up to the cap");
    cr_assert_eq(node_runfile_parse(big, NODE_RUNFILE_MAX + 1, &out), SOTTO_ECORRUPT,
                 "one byte over the cap, however harmless");
    cr_assert_eq(out.token[0], '\0', "nothing of a refused file is kept");
    free(big);
}
