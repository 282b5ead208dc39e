#!/usr/bin/env python3
"""Parity suite: asks mkdbg and drgn the same questions about one kernel dump.

Subcommands (scripts/parity is the entry point and picks the interpreter):

  run       [--image P] [--vmlinux P] [--mkdbg BIN] [--questions F] [--venv-python PY]
            the suite: mkdbg under this interpreter (stdlib only), drgn in a child
            process under --venv-python; prints each failure and "N passed, M failed".
  answers   --image P --vmlinux P [--questions F]     (needs drgn)
            drgn's answers as JSON on stdout.
  generate  --image P --vmlinux P [--questions F]     (needs drgn)
            (re)writes the question list; run once, the result is committed as data.
  log-answers --image P --vmlinux P                   (needs drgn)
            drgn's kernel log (get_printk_records, checked against get_dmesg) as the
            lines mkdbg's `log` must print, JSON on stdout.

Besides the questions, `run` checks mkdbg's `log` against drgn's get_dmesg() on
each dump (one question per dump, "log" in the by-kind line): the lab's running
and panicked dumps when --image is the default, else --image alone (drgn reading
--drgn-image). Line for line, with dmesg's rule for a record whose text holds
newlines (every line gets the record's timestamp; drgn's get_dmesg leaves the
later lines bare) and mkdbg's escaping of control bytes and invalid UTF-8 as \\xNN.

And `bt` against drgn's prog.stack_trace() on the same dumps: every CPU's current
task and some sleeping ones, one check per task ("bt" in the by-kind line; what is
compared is described in scripts/paritykit/parity_bt.py).

And `ps`, `mod`, `per_cpu current_task` and `sys` against drgn's for_each_task() (plus
idle_task()), for_each_module(), per_cpu() and panic_task()/panic_message() on the same
dumps: one check per task and per module ("ps", "mod", "per_cpu", "sys" in the by-kind
line; scripts/paritykit/parity_ps.py describes what is compared).

A question is structured; parity.py derives the mkdbg command and the drgn
evaluation from it:

  {"kind": "global",   "name": N}             p/x N            prog[N]
  {"kind": "sizeof",   "type": T}             p sizeof(T)      sizeof(prog.type(T))
  {"kind": "offsetof", "type": T, "member": M} p offsetof(T, M) offsetof(prog.type(T), M)
  {"kind": "enum",     "name": E, "type": T}  p/d E            T's enumerator E, and prog[E]
  {"kind": "string",   "expr": X, "drgn": PY} p X              eval(PY).string_()
  {"kind": "expr",     "expr": X, "fmt": F, "drgn": PY}
                                              p/F X            eval(PY)

Integers are compared exactly as gdb would print them: p/x (and sizeof,
offsetof) as the unsigned value of the result type's width, p/d as the signed
value of that width (gdb's /d is signed whatever the type); the result type is
drgn's (a plain Python int counts as unsigned long, a Python bool as int). Strings compare the bytes before the first NUL: mkdbg's gdb-style char
array syntax ("abc", '\\000' <repeats 59 times>) is parsed back into bytes.
"""

import argparse
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_QUESTIONS = os.path.join(HERE, "questions.json")
sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))
import elfread  # noqa: E402  (the scripts' shared ELF reader)
DEFAULT_IMAGE = os.path.expanduser("~/.cache/mkdbg/lab/fixtures/running/vmcore.elf")
MARK = "@@Q"


# --------------------------------------------------------------------------- questions

def load_questions(path):
    with open(path) as f:
        data = json.load(f)
    return data["questions"]


def mkdbg_command(q):
    k = q["kind"]
    if k == "global":
        return "p/x " + q["name"]
    if k == "sizeof":
        return "p sizeof(%s)" % q["type"]
    if k == "offsetof":
        return "p offsetof(%s, %s)" % (q["type"], q["member"])
    if k == "enum":
        return "p/d " + q["name"]
    if k == "string":
        return "p " + q["expr"]
    if k == "expr":
        return "p/%s %s" % (q["fmt"], q["expr"])
    raise ValueError("unknown question kind %r" % k)


# --------------------------------------------------------------------------- dump → vmlinux

def vmcoreinfo_of_elf(path):
    """VMCOREINFO text from an ELF core's PT_NOTE segments (None if not found)."""
    with open(path, "rb") as f:
        try:
            return elfread.core_vmcoreinfo(f)
        except elfread.ElfError:
            return None


def find_vmlinux(image):
    """The image's vmlinux, by VMCOREINFO BUILD-ID= (then OSRELEASE=) in the symbol stores."""
    info = vmcoreinfo_of_elf(image) or ""
    keys = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)
    build_id = keys.get("BUILD-ID", "").strip().lower()
    release = keys.get("OSRELEASE", "").strip()
    if not build_id:
        facts = os.path.join(os.path.dirname(image), "facts.json")
        if os.path.exists(facts):
            with open(facts) as f:
                build_id = json.load(f).get("build_id", "")
    stores = [os.environ.get("MKDBG_SYMBOLS", ""), os.path.join(os.getcwd(), "symbols"),
              os.path.join(ROOT, "symbols"), "/usr/lib/debug"]
    for store in filter(None, stores):
        if build_id:
            p = os.path.join(store, ".build-id", build_id[:2], build_id[2:] + ".debug")
            if os.path.exists(p):
                return p
        if release:
            for p in (os.path.join(store, "by-release", release, "vmlinux"),
                      os.path.join(store, "boot", "vmlinux-" + release)):
                if os.path.exists(p):
                    return p
    sys.exit("parity: no vmlinux found for %s (build-id %s, release %s); pass --vmlinux"
             % (image, build_id or "?", release or "?"))


# --------------------------------------------------------------------------- drgn side

def drgn_program(image, vmlinux):
    import drgn
    prog = drgn.Program()
    prog.set_core_dump(image)
    prog.load_debug_info([vmlinux])
    return prog


def drgn_namespace(prog):
    import drgn
    ns = {name: getattr(drgn, name) for name in
          ("Object", "cast", "container_of", "offsetof", "sizeof", "reinterpret")}
    ns["prog"] = prog
    ns["T"] = prog.type
    ns["UL"] = lambda v: drgn.Object(prog, "unsigned long", v)
    ns["INT"] = lambda v: drgn.Object(prog, "int", int(v))
    return ns


def drgn_int(value):
    """(unsigned masked value, size) of a drgn Object or Python number."""
    import drgn
    if isinstance(value, bool):
        return int(value), 4
    if isinstance(value, int):
        return value & (2 ** 64 - 1), 8
    if isinstance(value, drgn.Object):
        size = drgn.sizeof(value.type_)
        return int(value.value_()) & ((1 << (8 * size)) - 1), size
    raise TypeError("not an integer: %r" % (value,))


def drgn_answer(prog, ns, q):
    import drgn
    k = q["kind"]
    if k == "global":
        obj = prog[q["name"]]
        v, size = drgn_int(obj)
        return {"int": v, "size": size}
    if k == "sizeof":
        return {"int": drgn.sizeof(prog.type(q["type"])), "size": 8}
    if k == "offsetof":
        return {"int": drgn.offsetof(prog.type(q["type"]), q["member"]), "size": 8}
    if k == "enum":
        t = prog.type(q["type"])
        vals = [e.value for e in t.enumerators if e.name == q["name"]]
        if len(vals) != 1:
            raise LookupError("%s has no single enumerator %s" % (q["type"], q["name"]))
        if prog[q["name"]].value_() != vals[0]:
            raise LookupError("prog[%s] is not %s's enumerator" % (q["name"], q["type"]))
        return {"int": vals[0] & 0xFFFFFFFF, "size": 4}
    if k == "string":
        obj = eval(q["drgn"], ns)
        return {"str": obj.string_().hex()}
    if k == "expr":
        v, size = drgn_int(eval(q["drgn"], ns))
        return {"int": v, "size": size}
    raise ValueError("unknown question kind %r" % k)


def cmd_answers(args):
    prog = drgn_program(args.image, args.vmlinux)
    ns = drgn_namespace(prog)
    out = []
    for q in load_questions(args.questions):
        try:
            out.append(drgn_answer(prog, ns, q))
        except Exception as e:  # a wrong question, reported as a failure
            out.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)


# --------------------------------------------------------------------------- generation

# 50 structs: the everyday ones of kernel debugging.
STRUCTS = """
task_struct list_head hlist_head hlist_node mm_struct uts_namespace new_utsname file inode page
dentry super_block vm_area_struct cred pid upid pid_namespace nsproxy fs_struct files_struct
fdtable path qstr kref rb_node rb_root module kobject device sk_buff
socket timer_list hrtimer work_struct wait_queue_head mutex spinlock rq cfs_rq sched_entity
signal_struct sighand_struct user_namespace address_space zone kmem_cache pt_regs irq_desc seq_file ns_common
""".split()

# globals every kernel debugger user knows; the rest of the 100 are picked by hash
ALWAYS_GLOBALS = """jiffies jiffies_64 nr_cpu_ids max_pfn nr_threads total_forks system_state
panic_timeout phys_base page_offset_base""".split()

ENUMS = """pid_type zone_type node_states lru_list migratetype hrtimer_restart system_states
kobject_action zone_watermarks cpu_usage_stat""".split()

# (mkdbg expression, drgn Python expression); strings are printed with plain `p`.
STRINGS = [
    ("init_task.comm", "prog['init_task'].comm"),
    ("init_uts_ns.name.sysname", "prog['init_uts_ns'].name.sysname"),
    ("init_uts_ns.name.nodename", "prog['init_uts_ns'].name.nodename"),
    ("init_uts_ns.name.release", "prog['init_uts_ns'].name.release"),
    ("init_uts_ns.name.version", "prog['init_uts_ns'].name.version"),
    ("init_uts_ns.name.machine", "prog['init_uts_ns'].name.machine"),
    ("init_uts_ns.name.domainname", "prog['init_uts_ns'].name.domainname"),
    ("init_task.real_parent->comm", "prog['init_task'].real_parent.comm"),
    ("init_task.nsproxy->uts_ns->name.release", "prog['init_task'].nsproxy.uts_ns.name.release"),
    ("container_of(init_task.tasks.next, struct task_struct, tasks)->comm",
     "container_of(prog['init_task'].tasks.next, 'struct task_struct', 'tasks').comm"),
    ("container_of(init_task.children.next, struct task_struct, sibling)->comm",
     "container_of(prog['init_task'].children.next, 'struct task_struct', 'sibling').comm"),
    ("saved_command_line", "prog['saved_command_line']"),
]

IT = "prog['init_task']"
UTS = "prog['init_uts_ns']"
# (format, mkdbg expression, drgn Python expression)
EXPRS = [
    # pointer chains
    ("x", "init_task.tasks.next", IT + ".tasks.next"),
    ("x", "init_task.tasks.prev", IT + ".tasks.prev"),
    ("x", "init_task.tasks.next->next", IT + ".tasks.next.next"),
    ("x", "init_task.tasks.next->next->prev", IT + ".tasks.next.next.prev"),
    ("x", "init_task.tasks.prev->next", IT + ".tasks.prev.next"),
    ("x", "init_task.mm", IT + ".mm"),
    ("x", "init_task.active_mm", IT + ".active_mm"),
    ("x", "init_task.real_parent", IT + ".real_parent"),
    ("d", "init_task.real_parent->pid", IT + ".real_parent.pid"),
    ("x", "init_task.parent", IT + ".parent"),
    ("x", "init_task.nsproxy", IT + ".nsproxy"),
    ("x", "init_task.nsproxy->uts_ns", IT + ".nsproxy.uts_ns"),
    ("x", "init_task.nsproxy->pid_ns_for_children", IT + ".nsproxy.pid_ns_for_children"),
    ("x", "init_task.cred", IT + ".cred"),
    ("d", "init_task.cred->uid.val", IT + ".cred.uid.val"),
    ("x", "init_task.stack", IT + ".stack"),
    ("x", "init_task.thread_pid", IT + ".thread_pid"),
    ("d", "init_task.thread_pid->numbers[0].nr", IT + ".thread_pid.numbers[0].nr"),
    ("x", "init_task.children.next", IT + ".children.next"),
    ("x", "init_uts_ns.user_ns", UTS + ".user_ns"),
    ("x", "init_uts_ns.ucounts", UTS + ".ucounts"),
    ("d", "init_uts_ns.ns.inum", UTS + ".ns.inum"),
    ("x", "init_uts_ns.user_ns->parent", UTS + ".user_ns.parent"),
    ("d", "init_uts_ns.user_ns->level", UTS + ".user_ns.level"),
    # plain members, address-of, indexing
    ("d", "init_task.pid", IT + ".pid"),
    ("d", "init_task.tgid", IT + ".tgid"),
    ("x", "init_task.flags", IT + ".flags"),
    ("d", "init_task.prio", IT + ".prio"),
    ("d", "init_task.static_prio", IT + ".static_prio"),
    ("x", "init_task.__state", IT + ".__state"),
    ("x", "&init_task", "prog['init_task'].address_of_()"),
    ("x", "&init_task.tasks", IT + ".tasks.address_of_()"),
    ("x", "&init_task.pid", IT + ".pid.address_of_()"),
    ("x", "&init_uts_ns.name", UTS + ".name.address_of_()"),
    ("x", "&init_uts_ns.name.release", UTS + ".name.release.address_of_()"),
    ("d", "*&init_task.pid", IT + ".pid.address_of_()[0]"),
    ("x", "init_task.comm[0]", IT + ".comm[0]"),
    ("x", "init_task.comm[1]", IT + ".comm[1]"),
    ("d", "init_uts_ns.name.release[0]", UTS + ".name.release[0]"),
    ("x", "init_task.tasks.next == init_task.tasks.prev", "INT(%s.tasks.next == %s.tasks.prev)" % (IT, IT)),
    ("x", "init_task.nsproxy->uts_ns == &init_uts_ns",
     "INT(%s.nsproxy.uts_ns == %s.address_of_())" % (IT, UTS)),
    # casts
    ("x", "(unsigned char)init_task.pid", "cast('unsigned char', %s.pid)" % IT),
    ("x", "(unsigned char)init_task.prio", "cast('unsigned char', %s.prio)" % IT),
    ("d", "(signed char)init_task.prio", "cast('signed char', %s.prio)" % IT),
    ("x", "((struct list_head *)&init_task.tasks)->next",
     "cast('struct list_head *', %s.tasks.address_of_()).next" % IT),
    ("d", "(long)jiffies", "cast('long', prog['jiffies'])"),
    ("x", "(long)jiffies", "cast('long', prog['jiffies'])"),
    ("d", "(int)jiffies", "cast('int', prog['jiffies'])"),
    ("x", "(unsigned short)jiffies", "cast('unsigned short', prog['jiffies'])"),
    ("d", "(short)jiffies", "cast('short', prog['jiffies'])"),
    ("d", "(char)jiffies", "cast('char', prog['jiffies'])"),
    ("x", "(unsigned long)&init_task", "cast('unsigned long', prog['init_task'].address_of_())"),
    ("d", "(long)&init_task", "cast('long', prog['init_task'].address_of_())"),
    ("x", "(char *)&init_task + 1", "cast('char *', prog['init_task'].address_of_()) + 1"),
    ("x", "(struct task_struct *)init_task.tasks.next",
     "cast('struct task_struct *', %s.tasks.next)" % IT),
    ("d", "*(int *)&init_task.prio", "cast('int *', %s.prio.address_of_())[0]" % IT),
    ("x", "*(unsigned int *)&init_task.flags", "cast('unsigned int *', %s.flags.address_of_())[0]" % IT),
    ("x", "*(unsigned char *)init_uts_ns.name.release",
     "cast('unsigned char *', %s.name.release)[0]" % UTS),
    ("x", "*(unsigned long *)&init_uts_ns", "cast('unsigned long *', %s.address_of_())[0]" % UTS),
    ("x", "((char *)&init_uts_ns)[130]", "cast('char *', %s.address_of_())[130]" % UTS),
    ("x", "((struct task_struct *)((char *)init_task.tasks.next - offsetof(struct task_struct, tasks)))->pid",
     "cast('struct task_struct *', cast('char *', %s.tasks.next) - offsetof(T('struct task_struct'), 'tasks')).pid" % IT),
    ("d", "(int)PIDTYPE_SID", "cast('int', prog['PIDTYPE_SID'])"),
    ("x", "(enum zone_type)1", "Object(prog, 'enum zone_type', 1)"),
    ("x", "(bool)init_task.mm", "cast('bool', %s.mm)" % IT),
    ("x", "(bool)init_task.active_mm", "cast('bool', %s.active_mm)" % IT),
    # container_of
    ("d", "container_of(init_task.tasks.next, struct task_struct, tasks)->pid",
     "container_of(%s.tasks.next, 'struct task_struct', 'tasks').pid" % IT),
    ("x", "container_of(init_task.tasks.next, struct task_struct, tasks)",
     "container_of(%s.tasks.next, 'struct task_struct', 'tasks')" % IT),
    ("d", "container_of(init_task.tasks.next->next, struct task_struct, tasks)->pid",
     "container_of(%s.tasks.next.next, 'struct task_struct', 'tasks').pid" % IT),
    ("d", "container_of(init_task.tasks.prev, struct task_struct, tasks)->pid",
     "container_of(%s.tasks.prev, 'struct task_struct', 'tasks').pid" % IT),
    ("d", "container_of(init_task.children.next, struct task_struct, sibling)->pid",
     "container_of(%s.children.next, 'struct task_struct', 'sibling').pid" % IT),
    ("x", "container_of(init_task.tasks.next, struct task_struct, tasks)->mm",
     "container_of(%s.tasks.next, 'struct task_struct', 'tasks').mm" % IT),
    ("x", "container_of(&init_uts_ns.name, struct uts_namespace, name)",
     "container_of(%s.name.address_of_(), 'struct uts_namespace', 'name')" % UTS),
    # sizeof / offsetof arithmetic
    ("d", "sizeof(init_task)", "UL(sizeof(%s))" % IT),
    ("d", "sizeof(init_task.comm)", "UL(sizeof(%s.comm))" % IT),
    ("d", "sizeof(init_uts_ns.name.release)", "UL(sizeof(%s.name.release))" % UTS),
    ("d", "sizeof(struct new_utsname) / sizeof(init_uts_ns.name.release)",
     "UL(sizeof(T('struct new_utsname')) // sizeof(%s.name.release))" % UTS),
    ("d", "sizeof(long)", "UL(8)"),
    ("d", "sizeof(int)", "UL(4)"),
    ("d", "sizeof(short)", "UL(2)"),
    ("d", "sizeof(char *)", "UL(8)"),
    ("d", "sizeof(struct task_struct *)", "UL(sizeof(T('struct task_struct *')))"),
    ("d", "sizeof(pid_t)", "UL(sizeof(T('pid_t')))"),
    ("d", "sizeof(atomic_t)", "UL(sizeof(T('atomic_t')))"),
    ("d", "sizeof(struct task_struct) + 1", "UL(sizeof(T('struct task_struct'))) + 1"),
    ("d", "sizeof(struct list_head) * 2", "UL(sizeof(T('struct list_head'))) * 2"),
    ("x", "sizeof(struct page) << 3", "UL(sizeof(T('struct page'))) << 3"),
    ("d", "offsetof(struct task_struct, tasks) + sizeof(struct list_head)",
     "UL(offsetof(T('struct task_struct'), 'tasks')) + sizeof(T('struct list_head'))"),
    ("d", "offsetof(struct uts_namespace, name.release)",
     "UL(offsetof(T('struct uts_namespace'), 'name.release'))"),
    ("d", "offsetof(struct task_struct, tasks.prev)",
     "UL(offsetof(T('struct task_struct'), 'tasks.prev'))"),
    ("d", "offsetof(struct pid, numbers[1])", "UL(offsetof(T('struct pid'), 'numbers[1]'))"),
    ("d", "offsetof(struct task_struct, comm) - offsetof(struct task_struct, pid)",
     "UL(offsetof(T('struct task_struct'), 'comm')) - offsetof(T('struct task_struct'), 'pid')"),
    ("d", "(char *)&init_task.tasks - (char *)&init_task",
     "Object(prog, 'long', %s.tasks.address_of_().value_() - %s.address_of_().value_())" % (IT, IT)),
    ("x", "&init_task.tasks + 1", "%s.tasks.address_of_() + 1" % IT),
    ("x", "(unsigned long)&init_uts_ns + offsetof(struct uts_namespace, name.release)",
     "cast('unsigned long', %s.address_of_()) + offsetof(T('struct uts_namespace'), 'name.release')" % UTS),
    # integer arithmetic in C
    ("x", "jiffies + 1", "prog['jiffies'] + 1"),
    ("x", "jiffies - 1", "prog['jiffies'] - 1"),
    ("x", "jiffies >> 8", "prog['jiffies'] >> 8"),
    ("x", "jiffies & 0xff", "prog['jiffies'] & 0xff"),
    ("x", "jiffies | 1", "prog['jiffies'] | 1"),
    ("x", "jiffies ^ 0x5a5a", "prog['jiffies'] ^ 0x5a5a"),
    ("d", "jiffies % 1000", "prog['jiffies'] % 1000"),
    ("d", "jiffies / 250", "prog['jiffies'] / 250"),
    ("d", "init_task.prio * 2 + 1", IT + ".prio * 2 + 1"),
    ("d", "-init_task.prio", "-" + IT + ".prio"),
    ("x", "~init_task.pid", "~" + IT + ".pid"),
    ("d", "!init_task.mm", "INT(not %s.mm)" % IT),
    ("d", "init_task.pid == 0", "INT(%s.pid == 0)" % IT),
    ("d", "init_task.prio > 100", "INT(%s.prio > 100)" % IT),
    ("d", "init_task.mm ? 1 : 2", "INT(1 if %s.mm else 2)" % IT),
    ("d", "init_task.pid || init_task.prio", "INT(bool(%s.pid) or bool(%s.prio))" % (IT, IT)),
    ("d", "init_task.pid && init_task.prio", "INT(bool(%s.pid) and bool(%s.prio))" % (IT, IT)),
    ("d", "-7 / 2", "INT(-7) / 2"),
    ("d", "-7 % 3", "INT(-7) % 3"),
    ("x", "1 << 10", "INT(1) << 10"),
    ("x", "-1", "INT(-1)"),
    ("x", "0xffffffff", "Object(prog, 'unsigned int', 0xffffffff)"),
    ("x", "0x100000000", "Object(prog, 'long', 0x100000000)"),
    ("d", "10 / 3 * 3 + 10 % 3", "INT(10) / 3 * 3 + INT(10) % 3"),
    ("d", "(1 + 2) * 3 - 4", "INT(9 - 4)"),
    ("d", "PIDTYPE_MAX - 1", "prog['PIDTYPE_MAX'] - 1"),
    ("d", "PIDTYPE_PGID + PIDTYPE_SID", "prog['PIDTYPE_PGID'] + prog['PIDTYPE_SID']"),
    ("d", "__MAX_NR_ZONES", "prog['__MAX_NR_ZONES']"),
    ("d", "sizeof(init_task.comm) - 1", "UL(sizeof(%s.comm)) - 1" % IT),
    # bit fields (kthreadd, pid 2, is the second task on init_task.tasks)
    ("d", "init_task.sched_reset_on_fork", IT + ".sched_reset_on_fork"),
    ("d", "container_of(init_task.tasks.next->next, struct task_struct, tasks)->no_cgroup_migration",
     "container_of(%s.tasks.next.next, 'struct task_struct', 'tasks').no_cgroup_migration" % IT),
    ("x", "container_of(init_task.tasks.next->next, struct task_struct, tasks)->sched_remote_wakeup",
     "container_of(%s.tasks.next.next, 'struct task_struct', 'tasks').sched_remote_wakeup" % IT),
    ("d", "container_of(init_task.tasks.next->next, struct task_struct, tasks)->in_execve",
     "container_of(%s.tasks.next.next, 'struct task_struct', 'tasks').in_execve" % IT),
    # deeper members, arrays of structs, pointers into them
    ("d", "init_task.thread_pid->numbers[0].ns->level", IT + ".thread_pid.numbers[0].ns.level"),
    ("x", "init_task.cpus_ptr->bits[0]", IT + ".cpus_ptr.bits[0]"),
    ("d", "init_task.signal->nr_threads", IT + ".signal.nr_threads"),
    ("x", "init_task.se.load.weight", IT + ".se.load.weight"),
    ("d", "init_task.sighand->count.refs.counter", IT + ".sighand.count.refs.counter"),
    ("x", "__cpu_online_mask.bits[0]", "prog['__cpu_online_mask'].bits[0]"),
    ("x", "init_mm.pgd", "prog['init_mm'].pgd"),
    ("x", "init_mm.pgd[511].pgd", "prog['init_mm'].pgd[511].pgd"),
    ("d", "init_pid_ns.pid_allocated", "prog['init_pid_ns'].pid_allocated"),
    ("x", "init_pid_ns.pid_allocated", "prog['init_pid_ns'].pid_allocated"),
    ("x", "&((struct task_struct *)0)->tasks",
     "Object(prog, 'struct task_struct *', 0).tasks.address_of_()"),
    ("d", "(long)&((struct task_struct *)0)->pid",
     "cast('long', Object(prog, 'struct task_struct *', 0).pid.address_of_())"),
    ("d", "sizeof(struct task_struct[2])", "UL(sizeof(prog.array_type(T('struct task_struct'), 2)))"),
    # literals, signedness and width: p/d is signed, p/x unsigned, both at the type's width
    ("d", "(unsigned char)200", "Object(prog, 'unsigned char', 200)"),
    ("x", "(char)-1", "Object(prog, 'char', -1)"),
    ("d", "(short)-2 * 3", "Object(prog, 'short', -2) * 3"),
    ("d", "0x7fffffff + 1", "INT(0x7fffffff) + 1"),
    ("x", "1UL << 63", "UL(1) << 63"),
    ("d", "-1L", "Object(prog, 'long', -1)"),
    ("x", "-1UL", "-UL(1)"),
    ("d", "5000000000", "Object(prog, 'long', 5000000000)"),
    ("x", "'A'", "INT(65)"),
    ("d", "'a' + 1", "INT(98)"),
    ("x", "(unsigned int)-1 >> 1", "Object(prog, 'unsigned int', 0xffffffff) >> 1"),
    ("d", "-1 >> 1", "INT(-1) >> 1"),
    ("d", "7 > 3 && 2 < 1", "INT(0)"),
    ("d", "(init_task.prio & 0xf) | 0x100", "(%s.prio & 0xf) | 0x100" % IT),
]


def integer_kind(t):
    """'enum' / 'bool' / 'char' / 'typedef' / 'int' for a scalar integer type, else None."""
    from drgn import TypeKind
    u = t
    while u.kind == TypeKind.TYPEDEF:
        u = u.type
    if u.kind not in (TypeKind.INT, TypeKind.BOOL, TypeKind.ENUM):
        return None
    if u.kind == TypeKind.ENUM:
        return "enum"
    if u.kind == TypeKind.BOOL:
        return "bool"
    if t.kind == TypeKind.TYPEDEF:
        return "typedef"
    if "char" in u.name:
        return "char"
    return "int"


def pick_globals(prog):
    """100 global integer variables, deterministic: unique non-per-cpu, non-init ELF
    objects whose DWARF variable is at the symbol's address, readable in the dump;
    quotas per kind, ordered by sha1(name), nonzero values first."""
    import collections
    import drgn
    init_begin = prog.symbol("__init_begin").address
    init_end = prog.symbol("__init_end").address
    syms = prog.symbols()
    count = collections.Counter(s.name for s in syms)
    by_kind = collections.defaultdict(list)
    for s in syms:
        if s.kind != drgn.SymbolKind.OBJECT or count[s.name] != 1:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s.name):
            continue
        if s.address < 0xFFFFFFFF80000000 or init_begin <= s.address < init_end:
            continue  # per-cpu (section-relative addresses) or freed init data
        try:
            obj = prog.variable(s.name)
            if obj.address_ != s.address:
                continue
            kind = integer_kind(obj.type_)
            if kind is None:
                continue
            value = obj.value_()
        except Exception:
            continue
        by_kind[kind].append((s.name, value))
    chosen = []
    for name in ALWAYS_GLOBALS:
        kind = next((k for k, nvs in by_kind.items() if name in dict(nvs)), None)
        if kind is not None:
            chosen.append((kind, name))
    # quotas per kind; "int" comes last and takes whatever is left of the 100
    quotas = {"char": 8, "enum": 12, "bool": 15, "typedef": 25, "int": None}
    for kind, quota in quotas.items():
        if quota is None:
            quota = 100 - len(chosen)
        taken = {n for _, n in chosen}
        cands = sorted((nv for nv in by_kind[kind] if nv[0] not in taken),
                       key=lambda nv: hashlib.sha1(nv[0].encode()).hexdigest())
        nonzero = [n for n, v in cands if v]
        take = nonzero[:(quota * 4) // 5]
        take += [n for n, _ in cands if n not in take][:quota - len(take)]
        chosen += [(kind, n) for n in take]
    assert len(chosen) == 100, "only %d globals" % len(chosen)
    return chosen


def struct_members(t, prefix_offset=0):
    """Named, non-bitfield members of a struct/union, anonymous members flattened."""
    from drgn import TypeKind
    out = []
    for m in t.members:
        mt = m.type
        while mt.kind == TypeKind.TYPEDEF:
            mt = mt.type
        if m.name is None:
            if mt.kind in (TypeKind.STRUCT, TypeKind.UNION):
                out += struct_members(mt)
            continue
        if m.bit_field_size is not None or m.bit_offset % 8:
            continue
        out.append(m.name)
    return out


def cmd_generate(args):
    prog = drgn_program(args.image, args.vmlinux)
    questions = []
    for kind, name in pick_globals(prog):
        questions.append({"kind": "global", "name": name, "class": kind})
    assert len(STRUCTS) == 50 and len(set(STRUCTS)) == 50, len(STRUCTS)
    for s in STRUCTS:
        questions.append({"kind": "sizeof", "type": "struct " + s})
    for s in STRUCTS:
        names = struct_members(prog.type("struct " + s))
        for n in names:
            if names.count(n) == 1:
                questions.append({"kind": "offsetof", "type": "struct " + s, "member": n})
    for e in ENUMS:
        for en in prog.type("enum " + e).enumerators:
            questions.append({"kind": "enum", "type": "enum " + e, "name": en.name})
    for expr, py in STRINGS:
        questions.append({"kind": "string", "expr": expr, "drgn": py})
    for fmt, expr, py in EXPRS:
        questions.append({"kind": "expr", "fmt": fmt, "expr": expr, "drgn": py})
    with open(args.questions, "w") as f:
        json.dump({"generated_from": {"build_id": build_id_of(prog), "image": os.path.basename(args.image)},
                   "questions": questions}, f, indent=1)
        f.write("\n")
    print("parity: wrote %d questions to %s" % (len(questions), args.questions), file=sys.stderr)


def build_id_of(prog):
    try:
        return prog.main_module().build_id.hex()
    except Exception:
        return None


# --------------------------------------------------------------------------- the kernel log

def dmesg_escape(raw):
    """mkdbg's printing of record text: UTF-8, control bytes (but tab) and invalid bytes as \\xNN."""
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append("\\x%02x" % (o - 0xDC00))
        elif (o < 0x20 and o != 9) or o == 0x7F:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def cmd_log_answers(args):
    from drgn.helpers.linux.printk import get_dmesg, get_printk_records
    prog = drgn_program(args.image, args.vmlinux)
    records = get_printk_records(prog)
    lines, joined = [], []
    for r in records:
        stamp = b"[% 5d.%06d] " % (r.timestamp // 1000000000, r.timestamp % 1000000000 // 1000)
        joined.append(stamp + r.text)
        lines += [dmesg_escape(stamp + part) for part in r.text.split(b"\n")]
    # the records, formatted, must be exactly what get_dmesg() prints
    consistent = b"\n".join(joined + [b""]) == get_dmesg(prog)
    json.dump({"lines": lines, "records": len(records), "consistent": consistent}, sys.stdout)


def log_images(args, image, drgn_image):
    """(mkdbg image, drgn image) pairs for the log checks."""
    if os.path.abspath(args.image) == os.path.abspath(DEFAULT_IMAGE) and args.drgn_image is None:
        lab = os.path.dirname(os.path.dirname(DEFAULT_IMAGE))
        pairs = [(os.path.join(lab, d, "vmcore.elf"),) * 2 for d in ("running", "panicked")]
        return [p for p in pairs if os.path.exists(p[0])]
    return [(image, drgn_image)]


def run_log_checks(args, image, drgn_image, vmlinux):
    """mkdbg's `log` against drgn's get_dmesg(), one question per dump; returns (passed, failed)."""
    passed = failed = 0
    for mk_image, dr_image in log_images(args, image, drgn_image):
        name = "log on %s" % mk_image
        p = subprocess.run([args.venv_python, os.path.abspath(__file__), "log-answers", "--image", dr_image,
                            "--vmlinux", vmlinux], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            want = json.loads(p.stdout) if p.returncode == 0 else None
        except ValueError:
            want = None
        try:
            m = subprocess.run([args.mkdbg, "-c", mk_image, "-e", "log"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=args.timeout)
            got, rc, err = m.stdout.decode("utf-8", "replace").splitlines(), m.returncode, m.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            got, rc, err = [], "timeout after %ds" % args.timeout, ""
        problem = None
        if want is None:
            problem = "drgn could not answer: " + p.stderr.decode("utf-8", "replace").strip()[-300:]
        elif not want["consistent"]:
            problem = "drgn's get_printk_records() does not format to its get_dmesg()"
        elif rc != 0:
            problem = "mkdbg exit %s: %s" % (rc, err.strip()[-300:])
        elif got != want["lines"]:
            diffs = [i for i in range(max(len(got), len(want["lines"])))
                     if i >= len(got) or i >= len(want["lines"]) or got[i] != want["lines"][i]]
            problem = "%d lines from mkdbg, %d from drgn (%d records); %d differ, first at line %d" % (
                len(got), len(want["lines"]), want["records"], len(diffs), diffs[0] + 1)
            for i in diffs[:3]:
                problem += "\n  line %d mkdbg: %s\n  line %d drgn:  %s" % (
                    i + 1, got[i] if i < len(got) else "(none)", i + 1,
                    want["lines"][i] if i < len(want["lines"]) else "(none)")
        if problem is None:
            passed += 1
            print("parity: %s: %d lines equal drgn's get_dmesg()" % (name, len(got)))
        else:
            failed += 1
            print("FAIL [log] %s\n  %s" % (name, problem))
    return passed, failed


# --------------------------------------------------------------------------- mkdbg side

ANSWER = re.compile(r"^\$\d+ = (.*)$")
INT = re.compile(r"^(?:\([^()]*\)\s*)?(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(?:\s+<[^<>]*>)?(?:\s+'.*')?$")


def parse_int(text):
    m = INT.match(text.strip())
    if not m:
        return None
    v = int(m.group(2), 0) if not re.fullmatch(r"0[0-7]+", m.group(2)) else int(m.group(2), 8)
    return -v if m.group(1) else v


ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "e": 27,
           "\\": 92, '"': 34, "'": 39, "?": 63}


def parse_c_chars(s, i, quote):
    """Characters of a C literal starting after the opening quote at s[i-1]; returns (bytes, next index)."""
    out = bytearray()
    while i < len(s):
        c = s[i]
        if c == quote:
            return bytes(out), i + 1
        if c == "\\":
            i += 1
            e = s[i]
            if e in "01234567":
                j = i
                while j < len(s) and j < i + 3 and s[j] in "01234567":
                    j += 1
                out.append(int(s[i:j], 8) & 0xFF)
                i = j
                continue
            if e == "x":
                j = i + 1
                while j < len(s) and s[j] in "0123456789abcdefABCDEF":
                    j += 1
                out.append(int(s[i + 1:j], 16) & 0xFF)
                i = j
                continue
            if e not in ESCAPES:
                raise ValueError("unknown escape \\%s" % e)
            out.append(ESCAPES[e])
            i += 1
            continue
        out += c.encode("utf-8")
        i += 1
    raise ValueError("unterminated literal")


def parse_gdb_string(text):
    """gdb's char array / char * syntax → (bytes, truncated)."""
    s = text.strip()
    m = re.match(r"^(?:\([^()]*\)\s*)?0x[0-9a-fA-F]+(?:\s+<[^<>]*>)?\s+(?=\")", s)
    if m:  # char *: address then the string
        s = s[m.end():]
    out = bytearray()
    i = 0
    truncated = False
    while i < len(s):
        if s[i] == '"':
            b, i = parse_c_chars(s, i + 1, '"')
            out += b
        elif s[i] == "'":
            b, i = parse_c_chars(s, i + 1, "'")
            rep = re.match(r"\s*<repeats (\d+) times>", s[i:])
            n = 1
            if rep:
                n = int(rep.group(1))
                i += rep.end()
            out += b * n
        else:
            raise ValueError("unexpected %r at %d" % (s[i:i + 10], i))
        if s.startswith("...", i):
            truncated = True
            i += 3
        if i < len(s):
            if not s.startswith(", ", i):
                raise ValueError("expected ', ' at %d: %r" % (i, s[i:i + 10]))
            i += 2
    return bytes(out), truncated


def run_mkdbg(mkdbg, image, questions, timeout):
    """Runs the questions in one mkdbg process, restarting after a crash.
    Returns {index: (answer text or None, output lines)}."""
    results = {}
    todo = list(range(len(questions)))
    restarts = 0
    while todo:
        script = "".join("echo %s%d\n%s\n" % (MARK, i, mkdbg_command(questions[i])) for i in todo)
        try:
            p = subprocess.run([mkdbg, "-c", image], input=script.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
            out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode("utf-8", "replace"), "timeout after %ds" % timeout
        seen = []
        segments = {}
        preamble = []
        cur = None
        for line in out.splitlines():
            if line.startswith(MARK) and line[len(MARK):].isdigit():
                cur = int(line[len(MARK):])
                seen.append(cur)
                segments[cur] = []
            elif cur is None:
                preamble.append(line)
            else:
                segments[cur].append(line)
        for i, lines in segments.items():
            ans = next((m.group(1) for m in map(ANSWER.match, lines) if m), None)
            results[i] = (ans, lines)
        if not seen:
            why = "mkdbg printed no marker (does it know `echo`?), exit %s" % rc
            print("parity: %s; its first lines:" % why)
            for line in preamble[:6]:
                print("  " + line)
            for i in todo:
                results[i] = (None, [why])
            break
        if seen[-1] == todo[-1]:
            break
        # mkdbg stopped early: the last question it started is blamed, the rest re-run.
        last = seen[-1]
        how = ("killed by signal %d" % -rc) if isinstance(rc, int) and rc < 0 else "exit %s" % rc
        results[last] = (None, segments[last] + ["mkdbg ended here (%s)" % how])
        todo = todo[todo.index(last) + 1:]
        restarts += 1
        if restarts > 50:
            for i in todo:
                results[i] = (None, ["not run: mkdbg crashed more than 50 times"])
            break
    return results, restarts


# --------------------------------------------------------------------------- comparison

def compare(q, drgn_ans, mk):
    """None when equal, else (mkdbg answer, drgn answer, note)."""
    ans, lines = mk
    if "error" in drgn_ans:
        return (ans, "error: " + drgn_ans["error"], "drgn could not answer")
    if ans is None:
        tail = [l for l in lines if l.strip()][-5:]
        return ("(no answer)", show_drgn(drgn_ans), "mkdbg output: " + (" | ".join(tail) or "(nothing)"))
    if "str" in drgn_ans:
        want = bytes.fromhex(drgn_ans["str"])
        try:
            got, truncated = parse_gdb_string(ans)
        except (ValueError, IndexError) as e:
            return (ans, show_drgn(drgn_ans), "unparsable string: %s" % e)
        got = got.split(b"\0", 1)[0]
        if truncated and len(got) < len(want):
            want = want[:len(got)]
        return None if got == want else (ans, show_drgn(drgn_ans), "")
    v = parse_int(ans)
    if v is None:
        return (ans, show_drgn(drgn_ans), "not an integer")
    # gdb's rules: /x prints the value's bytes unsigned, /d signed, at the type's width;
    # sizeof and offsetof (natural format) are unsigned long.
    size = drgn_ans["size"]
    want = drgn_ans["int"]
    if mkdbg_command(q).startswith("p/d ") and want >> (8 * size - 1):
        want -= 1 << (8 * size)
    if v == want:
        return None
    mask = (1 << (8 * size)) - 1
    note = "expected %d" % want if want < 0 else "expected %#x" % want
    if (v & mask) == (want & mask):
        note += "; equal modulo 2^%d: wrong width or sign" % (8 * size)
    return (ans, show_drgn(drgn_ans), note)


def show_drgn(a):
    if "str" in a:
        return json.dumps(bytes.fromhex(a["str"]).decode("latin-1"))
    if "int" in a:
        v, size = a["int"], a["size"]
        signed = v - (1 << (8 * size)) if v >> (8 * size - 1) else v
        return "%#x (%d; %d bytes)" % (v, signed, size) if signed != v else "%#x (%d; %d bytes)" % (v, v, size)
    return str(a)


def cmd_run(args):
    t0 = time.time()
    image = os.path.abspath(args.image)
    if not os.path.exists(image):
        sys.exit("parity: no image %s (run scripts/lab fixtures)" % image)
    drgn_image = os.path.abspath(args.drgn_image or image)
    vmlinux = args.vmlinux or find_vmlinux(drgn_image)
    questions = load_questions(args.questions)
    if not os.access(args.mkdbg, os.X_OK):
        sys.exit("parity: no mkdbg binary at %s (swift build, or pass --mkdbg)" % args.mkdbg)
    print("parity: %d questions; image %s; vmlinux %s" % (len(questions), image, vmlinux))
    if drgn_image != image:
        print("parity: drgn reads %s" % drgn_image)
    print("parity: mkdbg %s (built %s); drgn via %s" % (
        args.mkdbg, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(args.mkdbg))),
        args.venv_python))
    with tempfile.TemporaryFile() as drgn_out:
        drgn_proc = subprocess.Popen(
            [args.venv_python, os.path.abspath(__file__), "answers", "--image", drgn_image,
             "--vmlinux", vmlinux, "--questions", args.questions], stdout=drgn_out)
        t_mk = time.time()
        mk, restarts = run_mkdbg(args.mkdbg, image, questions, args.timeout)
        t_mk = time.time() - t_mk
        if drgn_proc.wait() != 0:
            sys.exit("parity: the drgn side failed (exit %d)" % drgn_proc.returncode)
        drgn_out.seek(0)
        drgn_answers = json.load(drgn_out)
    passed = failed = 0
    by_kind = {}
    for i, q in enumerate(questions):
        bad = compare(q, drgn_answers[i], mk.get(i, (None, ["no output"])))
        stats = by_kind.setdefault(q["kind"], [0, 0])
        if bad is None:
            passed += 1
            stats[0] += 1
            continue
        failed += 1
        stats[1] += 1
        got, want, note = bad
        print("FAIL Q%d [%s] %s" % (i, q["kind"], mkdbg_command(q)))
        print("  mkdbg: %s" % got)
        print("  drgn:  %s" % want)
        if note:
            print("  %s" % note)
    if not args.no_log:
        lp, lf = run_log_checks(args, image, drgn_image, vmlinux)
        passed, failed = passed + lp, failed + lf
        by_kind["log"] = [lp, lf]
    if not args.no_bt:  # `bt` against drgn's stack_trace(): scripts/paritykit/parity_bt.py
        import parity_bt
        bp, bf = parity_bt.run_bt_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE)
        passed, failed = passed + bp, failed + bf
        by_kind["bt"] = [bp, bf]
    if not args.no_ps:  # ps, mod, per_cpu, sys against drgn: scripts/paritykit/parity_ps.py
        sys.dont_write_bytecode = True  # no scripts/__pycache__
        import parity_ps
        for kind, (kp, kf) in parity_ps.run_ps_checks(args, image, drgn_image, vmlinux, DEFAULT_IMAGE).items():
            passed, failed = passed + kp, failed + kf
            by_kind[kind] = [kp, kf]
    print("parity: by kind: " + ", ".join("%s %d/%d" % (k, s[0], s[0] + s[1]) for k, s in by_kind.items()))
    print("parity: mkdbg %.1fs (%d restart%s), total %.1fs" % (
        t_mk, restarts, "" if restarts == 1 else "s", time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "answers", "generate", "log-answers"):
        s = sub.add_parser(name)
        s.add_argument("--image", default=DEFAULT_IMAGE)
        s.add_argument("--vmlinux", default=None)
        s.add_argument("--questions", default=DEFAULT_QUESTIONS)
        if name == "run":
            s.add_argument("--mkdbg", default=os.path.join(ROOT, ".build", "debug", "mkdbg"))
            s.add_argument("--venv-python", default=sys.executable)
            s.add_argument("--timeout", type=int, default=600)
            s.add_argument("--drgn-image", default=None,
                           help="the dump drgn reads (default: --image); e.g. the ELF twin of a kdump")
            s.add_argument("--no-log", action="store_true", help="skip the `log` checks against drgn's get_dmesg()")
            s.add_argument("--no-bt", action="store_true", help="skip the `bt` checks against drgn's stack_trace()")
            s.add_argument("--no-ps", action="store_true",
                           help="skip the ps/mod/per_cpu/sys checks against drgn (scripts/paritykit/parity_ps.py)")
    args = ap.parse_args()
    if args.cmd != "run" and args.vmlinux is None:
        args.vmlinux = find_vmlinux(args.image)
    if args.cmd == "run":
        sys.exit(cmd_run(args))
    if args.cmd == "answers":
        cmd_answers(args)
    elif args.cmd == "log-answers":
        cmd_log_answers(args)
    else:
        cmd_generate(args)


if __name__ == "__main__":
    main()
