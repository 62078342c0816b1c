"""The wire messages of kruispunt.proto, as protobuf classes.

Nothing generated is committed: the classes are made at import from a
FileDescriptorSet of proto/kruispunt.proto. It is looked for in
$KP_PROTO_DESCRIPTOR, then as kruispunt.desc beside this file (where an
installation puts the one the build makes), then made from the source
tree's proto/kruispunt.proto with protoc-c (the compiler the C build uses
already) or protoc.
"""
import os
import shutil
import subprocess
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_HERE = os.path.dirname(os.path.abspath(__file__))


def _compile(proto):
    compiler = shutil.which("protoc-c") or shutil.which("protoc")
    if not compiler:
        raise ImportError(
            "kruispunt: no kruispunt.desc and no protoc-c or protoc to make one from "
            + proto + "; set KP_PROTO_DESCRIPTOR to the build's proto/kruispunt.desc")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "kruispunt.desc")
        subprocess.run([compiler, "--descriptor_set_out=" + out,
                        "--proto_path=" + os.path.dirname(proto), proto],
                       check=True)
        with open(out, "rb") as f:
            return f.read()


def _descriptor_set():
    for path in (os.environ.get("KP_PROTO_DESCRIPTOR"), os.path.join(_HERE, "kruispunt.desc")):
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                return f.read()
    return _compile(os.path.normpath(os.path.join(_HERE, "..", "..", "..", "proto",
                                                  "kruispunt.proto")))


def _load():
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(_descriptor_set())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)

    def message(name):
        descriptor = pool.FindMessageTypeByName("kp." + name)
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(descriptor)
        return message_factory.MessageFactory(pool).GetPrototype(descriptor)

    def enum(name):
        return {v.name: v.number for v in pool.FindEnumTypeByName("kp." + name).values}

    return message("Request"), message("Response"), message("Part"), enum("Status"), \
        enum("Reason")


Request, Response, Part, STATUS, REASON = _load()
STATUS_NAME = {number: name for name, number in STATUS.items()}
REASON_NAME = {number: name for name, number in REASON.items()}
