/* A training's signals: from rn_stop_on_signals() on, SIGINT, SIGTERM and
 * SIGHUP are requests, not deaths: the step in progress ends, the loop saves a
 * checkpoint and the run stops with exit status 1. Before, while loading and
 * allocating, the default action applies (lib/io.h: the lock and any temp
 * file are removed). A SIGHUP ignored by nohup stays ignored. */
#ifndef RN_ENGINE_SIGNALS_H
#define RN_ENGINE_SIGNALS_H

#include <signal.h>

/* The signal received since rn_stop_on_signals(), or 0. */
extern volatile sig_atomic_t rn_interrupted;

void rn_stop_on_signals(void);

#endif
