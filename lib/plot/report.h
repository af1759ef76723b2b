/* The report generator: copies a Markdown template, replacing directives with
 * what the runs produced. Directives (each alone in {{ }}):
 *   {{table NAME}}   a table (results params network training comparison runs)
 *   {{obs NAME}}     an observation with its numbers, worded by what they show:
 *                    degradation, overfitting, residual-fixes, residual-trains
 *   {{info KEY}}     a value from the global info files (profile, commit, ...)
 *   {{nets}}         the nets, comma-separated
 *   {{per-net TEXT}} TEXT once per net (a line each), NAME -> "ResNet-20", name -> "resnet-20"
 * A directive the generator does not know is an error naming the line. */
#ifndef RN_PLOT_REPORT_H
#define RN_PLOT_REPORT_H

#include "io.h"
#include "runs.h"

void report_render(const char *template_path, const RunSet *rs, RnOut *out);
/* One observation paragraph (exposed for tests and `rn-plot obs`). */
void report_observation(const char *name, const RunSet *rs, char *buf, size_t n);

#endif
