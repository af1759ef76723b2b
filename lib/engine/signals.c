/* A training's signals (signals.h). */
#include "signals.h"

#include <string.h>

volatile sig_atomic_t rn_interrupted;

static void on_signal(int sig)
{
    rn_interrupted = sig;
}

void rn_stop_on_signals(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
        sigaction(SIGHUP, &sa, NULL);
}
