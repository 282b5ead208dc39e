"""The question kinds (parity.py's docstring lists them): the mkdbg command each one becomes, and
drgn's answer to it (`parity.py answers`)."""

import json
import os
import sys

from images import drgn_program

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_QUESTIONS = os.path.join(HERE, "questions.json")


def questions_for_image(elf_path):
    """The question list for the dump's kernel line and architecture: questions-MAJOR.MINOR.json
    (x86-64) or questions-MAJOR.MINOR-arm64.json when there is one (a list generated from that
    kernel's DWARF: members and globals differ between lines and architectures), else
    questions.json (generated from x86-64 6.1)."""
    import re
    from images import vmcoreinfo_of_elf
    info = vmcoreinfo_of_elf(elf_path) or ""
    m = re.search(r"^OSRELEASE=(\d+)\.(\d+)", info, re.M)
    if m:
        arch = "-arm64" if re.search(r"^NUMBER\(kimage_voffset\)=", info, re.M) else ""
        path = os.path.join(HERE, "questions-%s.%s%s.json" % (m.groups() + (arch,)))
        if os.path.exists(path):
            return path
    return DEFAULT_QUESTIONS


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
