/* A minimal unit-test harness: each check prints "ok N - what" or
 * "not ok N - what" (TAP), and test_done() returns the exit status. */
#ifndef RN_TEST_H
#define RN_TEST_H

#include <math.h>
#include <stdio.h>

static int test_count, test_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        test_count++;                                                      \
        if (cond) {                                                        \
            printf("ok %d - ", test_count);                                \
        } else {                                                           \
            test_failed++;                                                 \
            printf("not ok %d - %s:%d: ", test_count, __FILE__, __LINE__); \
        }                                                                  \
        printf(__VA_ARGS__);                                               \
        printf("\n");                                                      \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
static inline int test_close(double a, double b, double atol, double rtol)
{
    return isfinite(a) && fabs(a - b) <= atol + rtol * fabs(b);
}

static inline int test_done(void)
{
    printf("1..%d\n", test_count);
    if (test_failed)
        printf("# %d of %d checks failed\n", test_failed, test_count);
    return test_failed ? 1 : 0;
}

#endif
