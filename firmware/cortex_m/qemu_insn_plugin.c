/*
 * qemu_insn_plugin.c - a QEMU TCG plugin that counts the guest instructions executed between
 * two marker functions (firmware/cortex_m/bench_main.c: tinyml_bench_begin / _end).
 *
 *   qemu-system-arm ... -plugin ./libqemu_insn_plugin.so,begin=0x1234,end=0x1240 -d plugin
 *   -> prints "tinyml-insns: between_markers=<n> total=<m>"
 * With mark=0x... (tml_layer_mark, called before every op) it also prints the instruction
 * count at each call: "tinyml-marks: <c0> <c1> ..." (per-layer costs are the differences).
 *
 * mark= may list several addresses separated by ':' (e.g. the invoke functions of TFLM's
 * kernels: tinyml_utils.deploy.tflm_target); a call to any of them is a mark.
 *
 * QEMU does not emulate the Cortex-M DWT cycle counter, and it does not model pipeline
 * timing: "tinyml-insns" is an exact INSTRUCTION count, not a cycle count. The plugin also
 * prints a cycle ESTIMATE ("tinyml-cycles: between_markers=<c> ...", and "tinyml-mark-cycles:"
 * like tinyml-marks; printed after tinyml-insns and before tinyml-marks, which stays the
 * last line as before): each executed instruction is classified from its disassembly and
 * charged the Cortex-M4 Technical Reference Manual's cycle count (ARM DDI 0439, table 3-1
 * "Cortex-M4 instruction set summary"; FPU: table 7-1), see cycles_of() below. Assumptions:
 * zero flash wait states (code and constants in zero-wait-state memory, as the emulated
 * board's SSRAM); pipeline refill P = 2 cycles for every taken branch (the TRM gives 1..3);
 * neighbouring load/store singles after a load pipeline (N+1 cycles for N), unless the
 * second one's base register is the first one's destination; IT counted as 1 cycle (it can
 * fold to 0); SDIV/UDIV 7 cycles (TRM: 2..12, data-dependent). Conditional branches are
 * charged 1 + P only when taken (seen from the next translation block executed).
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
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);

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
static uint64_t begin_addr = UINT64_MAX, end_addr = UINT64_MAX;
#define MAX_MARK_ADDRS 64
static uint64_t mark_addrs[MAX_MARK_ADDRS];
static int n_mark_addrs;
#define MAX_MARKS 1024
static uint64_t marks[MAX_MARKS], mark_cycles[MAX_MARKS];
static int n_marks;

/* ---- cycle estimate (see the header comment) ---- */
#define PIPELINE_REFILL 2
enum { C_ALU, C_MUL, C_DIV, C_LOAD, C_STORE, C_MULTI, C_BRANCH, C_FP, N_CLASSES };
static const char *const class_names[N_CLASSES] = {"alu",   "mul",   "div",    "load",
                                                   "store", "multi", "branch", "fp"};
static uint64_t cycles;                    /* estimated cycles of every executed instruction */
static uint64_t class_count[N_CLASSES];    /* executed instructions per class */
static uint64_t taken_cond;                /* taken conditional branches */
static uint64_t pending_fallthrough;       /* set by a conditional branch, checked by the next TB */
static uint64_t begin_cycles, end_cycles, begin_class[N_CLASSES], end_class[N_CLASSES];

static const char *const conds[] = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs",
                                    "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", NULL};
static int is_cond(const char *s) {
  int i;
  for (i = 0; conds[i]; ++i) {
    if (strcmp(s, conds[i]) == 0) return 1;
  }
  return 0;
}
static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* registers in a {...} list ("{r4, r5, lr}", "{r4-r7}", "{d8, d9}") */
static int reg_list_len(const char *ops) {
  const char *p = strchr(ops, '{');
  int n = 0;
  if (!p) return 1;
  for (++p; *p && *p != '}'; ++p) {
    if ((*p == 'r' || *p == 's' || *p == 'd' || *p == 'l' || *p == 'p' || *p == 'i' ||
         *p == 'f') && (p[-1] == '{' || p[-1] == ' ' || p[-1] == ',')) {
      ++n;
    }
    if (*p == '-') { /* a range rA-rB: count the registers between */
      const char *a = p - 1;
      while (a > ops && a[-1] >= '0' && a[-1] <= '9') --a;
      n += (int)strtol(p + 2, NULL, 10) - (int)strtol(a, NULL, 10);
    }
  }
  return n ? n : 1;
}

struct insn_cost {
  int cls;
  int cycles;      /* static part */
  int cond_branch; /* charged PIPELINE_REFILL more when taken */
  uint64_t fallthrough;
};

/* Cortex-M4 TRM timings for one instruction; prev_load: the previous instruction of the
 * block was a load single, with destination register prev_rt. */
static struct insn_cost cycles_of(const char *dis, int prev_load, const char *prev_rt,
                                  int *is_load_single, char *rt) {
  char m[32];
  const char *ops;
  size_t i;
  struct insn_cost c = {C_ALU, 1, 0, 0};
  *is_load_single = 0;
  rt[0] = '\0';
  for (i = 0; dis[i] && dis[i] != ' ' && dis[i] != '.' && i < sizeof m - 1; ++i) m[i] = dis[i];
  m[i] = '\0';
  ops = strchr(dis, ' ');
  ops = ops ? ops + 1 : "";
  while (*ops == ' ') ++ops;
  int writes_pc = starts(ops, "pc") || strstr(ops, "pc}") != NULL;
  if (m[0] == 'b' && is_cond(m + 1)) {
    c.cls = C_BRANCH, c.cycles = 1, c.cond_branch = 1;
  } else if (strcmp(m, "cbz") == 0 || strcmp(m, "cbnz") == 0) {
    c.cls = C_BRANCH, c.cycles = 1, c.cond_branch = 1;
  } else if (strcmp(m, "b") == 0 || strcmp(m, "bl") == 0 || strcmp(m, "bx") == 0 ||
             strcmp(m, "blx") == 0) {
    c.cls = C_BRANCH, c.cycles = 1 + PIPELINE_REFILL;
  } else if ((starts(m, "bx") || starts(m, "bl")) && is_cond(m + 2 + (m[2] == 'x'))) {
    c.cls = C_BRANCH, c.cycles = 1, c.cond_branch = 1; /* inside an IT block */
  } else if (starts(m, "tbb") || starts(m, "tbh")) {
    c.cls = C_BRANCH, c.cycles = 2 + PIPELINE_REFILL;
  } else if (starts(m, "ldrd") || starts(m, "strd")) {
    c.cls = m[0] == 'l' ? C_LOAD : C_STORE, c.cycles = 3;
  } else if (starts(m, "ldm") || starts(m, "pop") || starts(m, "stm") || starts(m, "push")) {
    c.cls = C_MULTI, c.cycles = 1 + reg_list_len(ops);
    if (m[0] == 'l' || m[0] == 'p') c.cycles += (m[1] == 'o' || m[0] == 'l') && writes_pc ? PIPELINE_REFILL : 0;
  } else if (starts(m, "ldr") || starts(m, "str")) {
    const char *base = strchr(ops, '[');
    int dep = 0;
    c.cls = m[0] == 'l' ? C_LOAD : C_STORE;
    if (base && prev_rt[0]) {
      size_t n = strlen(prev_rt);
      dep = strncmp(base + 1, prev_rt, n) == 0 && (base[1 + n] == ',' || base[1 + n] == ']');
    }
    c.cycles = (prev_load && !dep) ? 1 : 2;
    if (m[0] == 'l') {
      *is_load_single = 1;
      for (i = 0; ops[i] && ops[i] != ',' && i < 7; ++i) rt[i] = ops[i];
      rt[i] = '\0';
      if (writes_pc) c.cycles += PIPELINE_REFILL, c.cls = C_BRANCH;
    }
  } else if (starts(m, "vldr") || starts(m, "vstr")) {
    c.cls = C_FP, c.cycles = 2;
  } else if (starts(m, "vldm") || starts(m, "vstm") || starts(m, "vpush") || starts(m, "vpop")) {
    c.cls = C_FP, c.cycles = 1 + reg_list_len(ops);
  } else if (starts(m, "vdiv") || starts(m, "vsqrt")) {
    c.cls = C_FP, c.cycles = 14;
  } else if (starts(m, "vmla") || starts(m, "vmls") || starts(m, "vnml") || starts(m, "vfm") ||
             starts(m, "vfnm")) {
    c.cls = C_FP, c.cycles = 3;
  } else if (m[0] == 'v') {
    c.cls = C_FP, c.cycles = 1;
  } else if (starts(m, "sdiv") || starts(m, "udiv")) {
    c.cls = C_DIV, c.cycles = 7;
  } else if (starts(m, "mul") || starts(m, "mla") || starts(m, "mls") || starts(m, "smul") || starts(m, "umul") || starts(m, "smla") ||
             starts(m, "umla") || starts(m, "smua") || starts(m, "smus") || starts(m, "smml") ||
             starts(m, "smmu") || starts(m, "smls") || starts(m, "umaal")) {
    c.cls = C_MUL, c.cycles = 1;
  } else if (writes_pc) {
    c.cls = C_BRANCH, c.cycles = 1 + PIPELINE_REFILL;
  }
  return c;
}

static void on_tb_exec(unsigned int vcpu, void *udata) {
  (void)vcpu;
  if (pending_fallthrough) {
    if ((uint64_t)(uintptr_t)udata != pending_fallthrough) {
      cycles += PIPELINE_REFILL;
      ++taken_cond;
    }
    pending_fallthrough = 0;
  }
}

static void on_cond_branch(unsigned int vcpu, void *udata) {
  (void)vcpu;
  pending_fallthrough = (uint64_t)(uintptr_t)udata;
}

static void on_mark(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  /* only the marks inside the measured inference */
  if (begin_seen && !end_seen && n_marks < MAX_MARKS) {
    mark_cycles[n_marks] = cycles;
    marks[n_marks++] = insn_count;
  }
}

static void on_begin(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  begin_count = insn_count;
  begin_cycles = cycles;
  memcpy(begin_class, class_count, sizeof begin_class);
  begin_seen++;
}

static void on_end(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  end_count = insn_count;
  end_cycles = cycles;
  memcpy(end_class, class_count, sizeof end_class);
  end_seen++;
}

static int is_mark(uint64_t pc) {
  int k;
  for (k = 0; k < n_mark_addrs; ++k) {
    if (mark_addrs[k] == pc) return 1;
  }
  return 0;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t i, n = qemu_plugin_tb_n_insns(tb);
  int prev_load = 0;
  char prev_rt[8] = "";
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS,
                                       (void *)(uintptr_t)qemu_plugin_tb_vaddr(tb));
  for (i = 0; i < n; ++i) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    uint64_t pc = qemu_plugin_insn_vaddr(insn);
    char *dis = qemu_plugin_insn_disas(insn);
    int load_single;
    char rt[8];
    struct insn_cost c = cycles_of(dis ? dis : "", prev_load, prev_rt, &load_single, rt);
    free(dis);
    prev_load = load_single;
    memcpy(prev_rt, rt, sizeof prev_rt);
    /* the snapshot callbacks run before the instruction's own count is added */
    if (pc == begin_addr) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    if (is_mark(pc)) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    if (pc == end_addr) {
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, 1);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &cycles,
                                               (uint64_t)c.cycles);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                               &class_count[c.cls], 1);
    if (c.cond_branch) {
      qemu_plugin_register_vcpu_insn_exec_cb(
          insn, on_cond_branch, QEMU_PLUGIN_CB_NO_REGS,
          (void *)(uintptr_t)(pc + qemu_plugin_insn_size(insn)));
    }
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
  if (begin_seen && end_seen) {
    int c;
    snprintf(buf, sizeof buf,
             "tinyml-cycles: between_markers=%" PRIu64 " total=%" PRIu64
             " taken_cond_branches_total=%" PRIu64 " refill=%d wait_states=0\n",
             end_cycles - begin_cycles, cycles, taken_cond, PIPELINE_REFILL);
    qemu_plugin_outs(buf);
    qemu_plugin_outs("tinyml-classes:");
    for (c = 0; c < N_CLASSES; ++c) {
      snprintf(buf, sizeof buf, " %s=%" PRIu64, class_names[c], end_class[c] - begin_class[c]);
      qemu_plugin_outs(buf);
    }
    qemu_plugin_outs("\n");
    if (n_marks) {
      int i;
      qemu_plugin_outs("tinyml-mark-cycles:");
      for (i = 0; i < n_marks; ++i) {
        snprintf(buf, sizeof buf, " %" PRIu64, mark_cycles[i] - begin_cycles);
        qemu_plugin_outs(buf);
      }
      snprintf(buf, sizeof buf, " %" PRIu64 "\n", end_cycles - begin_cycles);
      qemu_plugin_outs(buf);
    }
  }
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
    if (strncmp(argv[i], "mark=", 5) == 0) {
      char *p = argv[i] + 5;
      while (*p && n_mark_addrs < MAX_MARK_ADDRS) {
        mark_addrs[n_mark_addrs++] = strtoull(p, &p, 0);
        if (*p == ':') ++p;
        else break;
      }
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
  qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
  return 0;
}
