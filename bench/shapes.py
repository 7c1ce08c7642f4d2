"""The certificate shapes users deploy: RSA-2048 or ECDSA P-256 leaves, with or without an
intermediate (the whole chain under one key type, as a CA issues it).

``write_shape`` writes the files ``bench.run`` and the servers take: the trust anchor, the
server's certificate (with its intermediate when there is one), key, and a "good" OCSP
response for stapling servers. The files are backdated by an hour: a CA file written
seconds ago is "racy" for the context cache (re-read by digest, src/tlsplug/_cache.py),
which is not what a pool meets.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Dict

#: name -> (key type, with an intermediate)
SHAPES = {
    "ecdsa-int": ("ecdsa", True),
    "ecdsa": ("ecdsa", False),
    "rsa-int": ("rsa", True),
    "rsa": ("rsa", False),
}


def write_shape(shape: str, directory: Path) -> Dict[str, str]:
    """Write the PKI of ``shape`` (see ``SHAPES``) into ``directory``; the file paths."""
    from tlsplug.testing.pki import CA

    key_type, intermediate = SHAPES[shape]
    root = CA(f"bench root {shape}", key_type)
    issuer = root.create_intermediate(f"bench intermediate {shape}") if intermediate else root
    leaf = issuer.issue_cert("localhost", "127.0.0.1")
    files = leaf.write(directory, combined=False)
    staple = directory / "staple.der"
    staple.write_bytes(leaf.issuer.ocsp_response(leaf, "good"))
    out = {"ca_file": str(root.write_cert(directory / "ca.pem")),
           "cert_file": str(files.cert_file), "key_file": str(files.key_file),
           "staple_file": str(staple)}
    old = time.time() - 3600
    for path in out.values():
        os.utime(path, (old, old))
    return out
