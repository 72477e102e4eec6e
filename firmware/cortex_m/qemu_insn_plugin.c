/*
 * qemu_insn_plugin.c - a QEMU TCG plugin that counts the guest instructions executed between
 * two marker functions (firmware/cortex_m/bench_main.c: tinyml_bench_begin / _end).
 *
 *   qemu-system-arm ... -plugin ./libqemu_insn_plugin.so,begin=0x1234,end=0x1240 -d plugin
 *   -> prints "tinyml-insns: between_markers=<n> total=<m>"
 * With mark=0x... (tml_layer_mark, called before every op) it also prints the instruction
 * count at each call: "tinyml-marks: <c0> <c1> ..." (per-layer costs are the differences).
 *
 * QEMU does not emulate the Cortex-M DWT cycle counter, and it does not model pipeline
 * timing: this is an exact INSTRUCTION count, not a cycle count.
 *
 * Debian ships no qemu-plugin.h, so the few declarations needed from QEMU's stable plugin
 * API (version 1, QEMU 6.0 .. 8.x) are written out below.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* not inspected */
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t insn_count;   /* every executed guest instruction (inline add) */
static uint64_t begin_count, end_count;
static int begin_seen, end_seen;
static uint64_t begin_addr = UINT64_MAX, end_addr = UINT64_MAX, mark_addr = UINT64_MAX;
#define MAX_MARKS 1024
static uint64_t marks[MAX_MARKS];
static int n_marks;

static void on_mark(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  /* only the marks inside the measured inference */
  if (begin_seen && !end_seen && n_marks < MAX_MARKS) marks[n_marks++] = insn_count;
}

static void on_begin(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  begin_count = insn_count;
  begin_seen++;
}

static void on_end(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  end_count = insn_count;
  end_seen++;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t i, n = qemu_plugin_tb_n_insns(tb);
  (void)id;
  for (i = 0; i < n; ++i) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    uint64_t pc = qemu_plugin_insn_vaddr(insn);
    /* the snapshot callbacks run before the instruction's own count is added */
    if (pc == begin_addr) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    if (pc == mark_addr) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    if (pc == end_addr) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, 1);
  }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *udata) {
  char buf[256];
  (void)id;
  (void)udata;
  snprintf(buf, sizeof buf,
           "tinyml-insns: between_markers=%" PRIu64 " total=%" PRIu64 " begin_hits=%d end_hits=%d\n",
           (begin_seen && end_seen) ? end_count - begin_count : 0, insn_count, begin_seen,
           end_seen);
  qemu_plugin_outs(buf);
  if (n_marks) {
    int i;
    qemu_plugin_outs("tinyml-marks:");
    for (i = 0; i < n_marks; ++i) {
      snprintf(buf, sizeof buf, " %" PRIu64, marks[i] - begin_count);
      qemu_plugin_outs(buf);
    }
    snprintf(buf, sizeof buf, " %" PRIu64 "\n", end_count - begin_count);
    qemu_plugin_outs(buf);
  }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv) {
  int i;
  (void)info;
  for (i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "begin=", 6) == 0) begin_addr = strtoull(argv[i] + 6, NULL, 0);
    if (strncmp(argv[i], "end=", 4) == 0) end_addr = strtoull(argv[i] + 4, NULL, 0);
    if (strncmp(argv[i], "mark=", 5) == 0) mark_addr = strtoull(argv[i] + 5, NULL, 0);
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
  qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
  return 0;
}
