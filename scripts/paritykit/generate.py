"""How the committed question list (questions.json) is made (`parity.py generate`, needs drgn):
the structs, globals, enums, strings and expressions asked about, picked deterministically."""

import hashlib
import json
import os
import re
import sys

from images import drgn_program


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
    # The image from _text on; per-cpu data is below it on x86-64 (section-relative), inside it
    # on arm64 (between __per_cpu_start and __per_cpu_end).
    text = prog.symbol("_text").address
    pcpu = (prog.symbol("__per_cpu_start").address, prog.symbol("__per_cpu_end").address)
    syms = prog.symbols()
    count = collections.Counter(s.name for s in syms)
    by_kind = collections.defaultdict(list)
    for s in syms:
        if s.kind != drgn.SymbolKind.OBJECT or count[s.name] != 1:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s.name):
            continue
        if s.address < text or init_begin <= s.address < init_end or pcpu[0] <= s.address < pcpu[1]:
            continue  # per-cpu or freed init data
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
