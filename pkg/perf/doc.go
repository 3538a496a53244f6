// Package perf measures what one packet costs a loaded XDP program, with
// BPF_PROG_TEST_RUN, beside other programs measured in the same run: the
// machine is shared and noisy, so only ratios within one run mean much.
package perf
