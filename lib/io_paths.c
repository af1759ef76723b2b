/* Which file a path names (lib/io.h): symlinks followed, outputs that are
 * inputs refused, and the run locks. */
#include "io.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *rn_resolve_links(const char *path)
{
    char *cur = rn_xstrdup(path);
    for (int depth = 0; depth < 40; depth++) {   /* the kernel's own limit */
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            return cur;
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0)
            return cur;
        link[n] = 0;
        /* a relative target is relative to the link's directory */
        const char *slash = strrchr(cur, '/');
        size_t dirlen = link[0] == '/' || !slash ? 0 : (size_t)(slash - cur + 1);
        char *next = rn_xmalloc(dirlen + (size_t)n + 1);
        memcpy(next, cur, dirlen);
        memcpy(next + dirlen, link, (size_t)n + 1);
        free(cur);
        cur = next;
    }
    rn_die("cannot write %s: too many levels of symbolic links", path);
}

/* What a path names, for comparison: an existing file by device and inode;
 * a name not there yet by its directory's device and inode and its last
 * component (so "x" and "./x" are one name). */
typedef struct {
    bool known, exists, regular;
    dev_t dev;
    ino_t ino;
    char base[NAME_MAX + 1];
} FileId;

static FileId file_id(const char *path)
{
    FileId id = {0};
    if (!path || rn_is_stdio(path))
        return id;
    struct stat st;
    if (stat(path, &st) == 0) {
        id.known = id.exists = true;
        id.regular = S_ISREG(st.st_mode);
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        return id;
    }
    char *target = rn_resolve_links(path);
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char *dir = slash ? rn_xstrdup(target) : rn_xstrdup(".");
    if (slash)
        dir[slash - target + (slash == target)] = 0;   /* "/x" -> "/" */
    if (*base && strlen(base) < sizeof id.base && stat(dir, &st) == 0) {
        id.known = id.regular = true;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        snprintf(id.base, sizeof id.base, "%s", base);
    }
    free(dir);
    free(target);
    return id;
}

static bool same(const FileId *a, const FileId *b)
{
    return a->known && b->known && a->regular && b->regular && a->exists == b->exists && a->dev == b->dev &&
           a->ino == b->ino && strcmp(a->base, b->base) == 0;
}

void rn_refuse_same_files(const RnPathArg *inputs, size_t ninputs, const RnPathArg *outputs, size_t noutputs)
{
    for (size_t o = 0; o < noutputs; o++) {
        FileId out = file_id(outputs[o].path);
        if (!out.known)
            continue;
        for (size_t i = 0; i < ninputs; i++) {
            FileId in = file_id(inputs[i].path);
            if (in.exists && same(&out, &in))
                rn_die("%s: %s is the same file as %s %s: refusing to overwrite an input (give %s another name)",
                       outputs[o].path, outputs[o].opt, inputs[i].opt, inputs[i].path, outputs[o].opt);
        }
        for (size_t k = 0; k < o; k++) {
            FileId other = file_id(outputs[k].path);
            if (same(&out, &other))
                rn_die("%s: %s is the same file as %s %s: one output would overwrite the other (give %s another "
                       "name)",
                       outputs[o].path, outputs[o].opt, outputs[k].opt, outputs[k].path, outputs[o].opt);
        }
    }
}

/* ---------------------------------------------------------------- run locks */

struct RnLock {
    char *path;
    int fd;
};

/* The pid written in a lock file, 0 if none can be read. */
static long read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

RnLock *rn_lock_take(const char *path, const char *what)
{
    if (!path || rn_is_stdio(path))
        return NULL;
    char *target = rn_resolve_links(path);
    struct stat st;
    if (stat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
        free(target);
        return NULL;   /* /dev/null and the like: nothing to protect */
    }
    size_t n = strlen(target) + 8;
    char *lock = rn_xmalloc(n);
    snprintf(lock, n, "%s.lock", target);
    free(target);
    /* A holder removes its lock file when it ends; whoever opened the old
     * file meanwhile finds it gone after flock() and tries again with a new one. */
    for (int attempt = 0; attempt < 100; attempt++) {
        rn_cleanup_hold();   /* until the lock file is listed for removal */
        int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            rn_die("cannot write %s: cannot create its lock file %s: %s (is the directory writable?)", path, lock,
                   strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            long pid = read_pid(fd);
            close(fd);
            if (e != EWOULDBLOCK)
                rn_die("%s: cannot lock: %s", lock, strerror(e));
            if (pid)
                rn_die("%s: held by pid %ld, which is writing %s %s (wait for it to end, or stop it)", lock, pid,
                       what, path);
            rn_die("%s: held by another process writing %s %s (wait for it to end, or stop it)", lock, what, path);
        }
        struct stat held, now;
        if (fstat(fd, &held) != 0 || stat(lock, &now) != 0 || held.st_dev != now.st_dev ||
            held.st_ino != now.st_ino) {
            close(fd);   /* removed or replaced by its last holder: take the new one */
            rn_cleanup_release();
            continue;
        }
        long old = read_pid(fd);
        if (old && old != (long)getpid())
            rn_info("%s: taking over the lock of pid %ld, which has ended", lock, old);
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len)
            rn_die("%s: cannot write the lock file: %s", lock, strerror(errno));
        RnLock *l = rn_xmalloc(sizeof *l);
        l->path = lock;
        l->fd = fd;
        rn_cleanup_add(l->path);
        rn_cleanup_release();
        return l;
    }
    rn_die("%s: the lock file keeps being replaced by other processes", lock);
}

void rn_lock_release(RnLock *l)
{
    if (!l)
        return;
    rn_cleanup_remove(l->path);   /* first: a signal now must not unlink a successor's file */
    unlink(l->path);              /* while still held, see rn_lock_take */
    close(l->fd);
    free(l->path);
    free(l);
}
