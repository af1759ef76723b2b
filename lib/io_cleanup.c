/* What is removed when a tool dies (lib/io.h): the temp files of pending
 * outputs and the run locks, on rn_die and on SIGINT, SIGTERM and SIGHUP;
 * and the stale temp files a killed process (kill -9, power cut) left. */
#include "io.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A fixed list that the signal handler can walk without locks or malloc:
 * a slot is published after its string is complete and cleared before the
 * string is freed. A tool has at most a few outputs and locks at a time. */
enum { SLOTS = 32 };
static const char *volatile slots[SLOTS];

static const int SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};   /* SIGPIPE: a closed pipe of stderr or stdout */

/* Async-signal-safe: unlink() of the listed names, then the signal again
 * with its default action (SA_RESETHAND restored it), so the parent sees the
 * process killed by that signal, as without the handler. */
static void on_fatal_signal(int sig)
{
    int saved = errno;
    for (int i = 0; i < SLOTS; i++) {
        const char *p = slots[i];
        if (p)
            unlink(p);
    }
    errno = saved;
    raise(sig);   /* blocked until the handler returns, then fatal */
}

static void install_handlers(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    rn_set_die_hook(rn_cleanup_run);
    for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(SIGNALS[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL)
            continue;   /* ignored (nohup) or the tool's own handler: leave it */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < sizeof SIGNALS / sizeof SIGNALS[0]; k++)
            sigaddset(&sa.sa_mask, SIGNALS[k]);   /* one cleanup at a time */
        sigaction(SIGNALS[i], &sa, NULL);
    }
}

/* Between creating a file and listing it, a signal would leave the file
 * behind: the creator blocks the signals for that moment; one that came
 * meanwhile is delivered on release, when the name is listed. */
static sigset_t mask_before_hold;

void rn_cleanup_hold(void)
{
    install_handlers();
    sigset_t set;
    sigemptyset(&set);
    for (size_t k = 0; k < sizeof SIGNALS / sizeof SIGNALS[0]; k++)
        sigaddset(&set, SIGNALS[k]);
    sigprocmask(SIG_BLOCK, &set, &mask_before_hold);
}

void rn_cleanup_release(void) { sigprocmask(SIG_SETMASK, &mask_before_hold, NULL); }

void rn_cleanup_add(const char *path)
{
    install_handlers();
    for (int i = 0; i < SLOTS; i++)
        if (!slots[i]) {
            slots[i] = path;
            return;
        }
    rn_die("internal error: more than %d temporary files or locks at once", SLOTS);
}

void rn_cleanup_remove(const char *path)
{
    for (int i = 0; i < SLOTS; i++)
        if (slots[i] == path)
            slots[i] = NULL;
}

void rn_cleanup_run(void)
{
    for (int i = 0; i < SLOTS; i++) {
        const char *p = slots[i];
        if (p) {
            slots[i] = NULL;
            unlink(p);
        }
    }
}

/* ".NAME.tmp.XXXXXX": a dot, a name, ".tmp.", six characters of mkstemp's alphabet. */
static bool is_our_temp(const char *name)
{
    size_t n = strlen(name);
    if (name[0] != '.' || n < 1 + 1 + 5 + 6 || memcmp(name + n - 11, ".tmp.", 5) != 0)
        return false;
    for (size_t i = n - 6; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

void rn_sweep_stale_temps(const char *dir)
{
    /* once per directory per process: remember the last few */
    static char seen[8][256];
    static int nseen;
    for (int i = 0; i < nseen && i < 8; i++)
        if (strcmp(seen[i], dir) == 0)
            return;
    if (strlen(dir) < sizeof seen[0])
        snprintf(seen[nseen++ % 8], sizeof seen[0], "%s", dir);

    DIR *d = opendir(*dir ? dir : ".");
    if (!d)
        return;   /* the write that follows says what is wrong with the directory */
    time_t day_ago = time(NULL) - 24 * 60 * 60;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_our_temp(e->d_name))
            continue;
        char path[4096];
        struct stat st;
        if (snprintf(path, sizeof path, "%s%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_mtime >= day_ago)
            continue;
        removed += unlink(path) == 0;
    }
    closedir(d);
    if (removed)
        rn_info("removed %d stale temporary file%s (older than a day) in %s", removed, removed > 1 ? "s" : "",
                *dir ? dir : ".");
}
