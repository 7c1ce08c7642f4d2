"""The command line: start the server process, run every measurement, report.

    python -m bench            # ~3 minutes on 2 cores
    python -m bench --quick    # every measurement briefly (< 30 s), for CI smoke runs
    python -m bench --soak     # memory of long-running pools only (bench/soak.py)

``--quick`` ends with the short soak, which fails the run (exit 1) when a tlsplug path's
memory grows with the connections it made (bench/soak.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from . import bridge, clients, measure, nginx_server, openssl_server, report, soak
from .clients import PAIRS, VARIANTS, available

MiB = 1024 * 1024
#: What ``--only`` can pick; all of them by default.
SECTIONS = ("handshakes", "stapled", "bulk", "contexts", "s_time", "bridge", "shapes", "aio")
RESULTS = Path(__file__).resolve().parent / "results"


def _settings(quick: bool, rounds: Optional[int]) -> Dict[str, Any]:
    if quick:
        s = {"rounds": 2, "handshakes": 15, "bulk_small": 8 * MiB, "bulk_large": 32 * MiB,
             "ctx_reps": 3, "s_time": 1, "s_time_rounds": 1}
    else:
        s = {"rounds": 9, "handshakes": 200, "bulk_small": 128 * MiB, "bulk_large": 256 * MiB,
             "ctx_reps": 20, "s_time": 2, "s_time_rounds": 3}
    if rounds:
        s["rounds"] = rounds
    return s


def _pki(directory: Path) -> Dict[str, str]:
    from tlsplug.testing.pki import CA

    root = CA("bench root")
    leaf = root.create_intermediate("bench intermediate").issue_cert("localhost", "127.0.0.1")
    files = leaf.write(directory, combined=False)
    staple = directory / "staple.der"  # a "good" response from the issuer, for -status_file
    staple.write_bytes(leaf.issuer.ocsp_response(leaf, "good"))
    out = {"ca_file": str(root.write_cert(directory / "ca.pem")),
           "cert_file": str(files.cert_file), "key_file": str(files.key_file),
           "staple_file": str(staple)}
    # Deployed CA files are old; a file written seconds ago is "racy" for the context
    # cache (re-read by digest on every call, see src/tlsplug/_cache.py), not the case
    # a pool meets. Backdate the files by an hour.
    old = time.time() - 3600
    for path in out.values():
        os.utime(path, (old, old))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; 0 on success (targets missed are reported, not failed; a soak
    path that grows beyond its limit fails the run: 1)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every measurement briefly")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per measurement")
    parser.add_argument("--soak", action="store_true",
                        help="only the soak (bench/soak.py): RSS growth and idle memory")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON/PNG")
    parser.add_argument(
        "--no-revocation-check", action="store_true",
        help="tlsplug variants with tlsDisableCertificateRevocationCheck=true (no OCSP work), "
        "to separate the wrapper's cost from the OCSP checks raw clients do not make",
    )
    parser.add_argument(
        "--server", choices=("auto", "nginx", "s_server", "python"), default="auto",
        help="handshake server: nginx, else openssl s_server, else bench.server (auto)",
    )
    parser.add_argument("--only", type=lambda v: [x for x in v.split(",") if x],
                        help=f"comma-separated sections, among {','.join(SECTIONS)}")
    args = parser.parse_args(argv)
    if args.only and not set(args.only) <= set(SECTIONS):
        parser.error(f"--only: choose among {','.join(SECTIONS)}")
    if args.no_revocation_check:
        clients.TLSPLUG_EXTRA["disable_certificate_revocation_check"] = True
    settings = _settings(args.quick, args.rounds)
    settings["only"] = args.only
    variants = available(VARIANTS)
    pairs = {t: r for t, r in PAIRS.items() if t in variants}
    started = time.time()
    soaked: Dict[str, Any] = {}
    soak_passed = True
    if args.soak or args.quick:
        soak._raise_fd_limit()  # before the server process starts: it inherits the limit

    with tempfile.TemporaryDirectory(prefix="tlsplug-bench-") as tmp:
        files = _pki(Path(tmp))
        mp = multiprocessing.get_context("spawn")
        ports_q = mp.Queue()
        stop = mp.Event()
        from .server import serve

        proc = mp.Process(target=serve, args=(files["cert_file"], files["key_file"], ports_q, stop),
                          daemon=True)
        proc.start()
        servers: Any = None
        try:
            ports = ports_q.get(timeout=60)
            servers, handshake_ports, ping = _handshake_servers(args.server, files, ports)
            settings["handshake_server"] = (
                "bench.server" if servers is None else type(servers).__name__
            )
            clients.PING = ping
            if not args.soak:
                data = _run(variants, pairs, settings, files["ca_file"], ports, handshake_ports)
            if args.soak or args.quick:
                # Against bench.server, whose ping the soak's children send.
                soak_passed, soaked = soak.run(ports["tls13"], files["ca_file"], args.quick)
        finally:
            if servers is not None:
                servers.stop()
            stop.set()
            proc.join(5)
            if proc.is_alive():
                proc.terminate()

    if args.soak:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = args.out / f"soak-{'quick' if args.quick else 'full'}-{stamp}.json"
        report.write_json(path, {
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": clients.describe(), "soak": soaked,
            "command": " ".join(
                ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])]
            ),
        })
        print(f"JSON: {path}")
        return 0 if soak_passed else 1
    table: report.Table = data.pop("table")
    print(table.render())
    print(f"\n{len(variants)} variants, {settings['rounds']} rounds, "
          f"{time.time() - started:.1f} s; ratios are per round, tlsplug / raw unless noted.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mode = "quick" if args.quick else "full"
    json_path = args.out / f"bench-{mode}-{stamp}.json"
    report.write_json(json_path, {
        "settings": settings, "variants": variants, "python": platform.python_version(),
        "platform": platform.platform(), "versions": clients.describe(),
        "tlsplug_extra_options": dict(clients.TLSPLUG_EXTRA),
        "command": " ".join(
            ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])]
        ),
        "table": table.rows, "samples": data, "soak": soaked,
    })
    print(f"JSON: {json_path}")
    skipped = report.write_chart(args.out / f"bench-{mode}-{stamp}.png", table)
    print(skipped or f"chart: {args.out / f'bench-{mode}-{stamp}.png'}")
    return 0 if not soaked or soak_passed else 1


def _handshake_servers(
    choice: str, files: Dict[str, str], python_ports: Dict[str, int]
) -> Tuple[Any, Dict[str, int], Tuple[bytes, bytes]]:
    """(servers to stop or None, ports by listener name, the clients' ping)."""
    args = (files["cert_file"], files["key_file"], files["staple_file"])
    if choice in ("auto", "nginx") and nginx_server.binary() is not None:
        servers: Any = nginx_server.NginxServers(*args).start()
        return servers, servers.ports, nginx_server.PING
    if choice == "nginx":
        raise SystemExit("--server nginx: nginx is not installed")
    if choice in ("auto", "s_server") and openssl_server.available():
        servers = openssl_server.OpenSSLServers(*args).start()
        return servers, servers.ports, openssl_server.PING
    if choice == "s_server":
        raise SystemExit("--server s_server: openssl is not installed")
    if choice == "auto":
        warnings.warn("neither nginx nor openssl found: handshakes measured against "
                      "bench.server (Python), which flattens the ratios", RuntimeWarning,
                      stacklevel=2)
    from .server import PING

    return None, dict(python_ports), PING


def _run(variants: List[str], pairs: Dict[str, str], s: Dict[str, Any], ca_file: str,
         ports: Dict[str, int], handshake_ports: Dict[str, int]) -> Dict[str, Any]:
    table = report.Table()
    data: Dict[str, Any] = {"table": table}
    rounds = s["rounds"]
    hs: Dict[str, Any] = {}
    only = s.get("only") or SECTIONS
    for version in ("tls13", "tls12") if "handshakes" in only else ():
        address = ("127.0.0.1", handshake_ports[version])
        label = "TLS 1.3" if version == "tls13" else "TLS 1.2"
        full = measure.handshakes(variants, address, ca_file, False, rounds, s["handshakes"])
        resumed = measure.handshakes(variants, address, ca_file, True, rounds, s["handshakes"])
        hs[version] = {"full": full, "resumed": resumed}
        for t, r in pairs.items():
            table.add(f"full handshakes/s {label}", f"{t} / {r}",
                      report.ratio(full["rate"][t], full["rate"][r]), 0.98)
        for t, r in pairs.items():
            table.add(f"resumed handshakes/s {label}", f"{t} / {r}",
                      report.ratio(resumed["rate"][t], resumed["rate"][r]))
        for t, r in pairs.items():
            table.add(f"pooled reconnects {label}", f"{t} resumed / {t} full",
                      report.ratio(resumed["rate"][t], full["rate"][t]),
                      1.7 if version == "tls13" else 3.0)
            # The same ratio for the hand-written client: what this machine and server allow.
            table.add(f"pooled reconnects {label}", f"{r} resumed / {r} full (by hand)",
                      report.ratio(resumed["rate"][r], full["rate"][r]))
        for v in variants:
            table.add(f"full handshakes/s {label}", v, report.summary(full["rate"][v]),
                      unit="/s")
            table.add(f"resumed handshakes/s {label}", f"{v} (reused {resumed['reused'][v]:.0%})",
                      report.summary(resumed["rate"][v]), unit="/s")
    data["handshakes"] = hs
    if "stapled" in only and "stapled" in handshake_ports and "tlsplug-pyopenssl" in variants:
        data["stapled"] = _stapled(table, ("127.0.0.1", handshake_ports["stapled"]), ca_file, s)

    bulk: Dict[str, Any] = {}
    for direction in ("up", "down") if "bulk" in only else ():
        for chunk, total in ((64 * 1024, s["bulk_small"]), (16 * MiB, s["bulk_large"])):
            name = f"bulk {direction} {'64KiB' if chunk < MiB else '16MiB'} chunks"
            samples = measure.bulk(variants, ("127.0.0.1", ports["tls13"]), ca_file,
                                   direction, chunk, total, rounds)
            bulk[name] = samples
            for t, r in pairs.items():
                table.add(f"{name} MiB/s", f"{t} / {r}", report.ratio(samples[t], samples[r]),
                          0.97)
            for v in variants:
                table.add(f"{name} MiB/s", v, report.summary(samples[v]), unit="MiB/s")
    data["bulk"] = bulk

    ctx: Dict[str, Any] = {}
    for trust, ca in (("tlsCAFile", ca_file), ("system store", None)) if "contexts" in only else ():
        created = measure.context_creation(variants, ca, rounds, s["ctx_reps"])
        ctx[trust] = created
        for t in pairs:
            table.add(f"context creation ({trust})", f"{t} first / {t} cached (speed-up)",
                      report.ratio(created["first"][t], created["cached"][t]), 100.0)
        for v in variants:
            table.add(f"context creation µs ({trust})", f"{v} first",
                      report.summary(created["first"][v]), unit="µs")
            if v in created["cached"]:
                table.add(f"context creation µs ({trust})", f"{v} cached",
                          report.summary(created["cached"][v]), unit="µs")
    data["contexts"] = ctx

    if "bridge" in only:
        data["bridge"] = _bridge(table, s, ca_file, ports, handshake_ports)


    from . import sections  # certificate shapes x servers, tlsplug.aio (bench/sections.py)

    if "shapes" in only:
        data["shapes"] = sections.shapes(table, variants, pairs, s)
    if "aio" in only:
        data["aio"] = sections.aio(table, s)
    if "s_time" not in only:
        pass
    elif shutil.which("openssl"):
        st: Dict[str, Any] = {}
        for version, flag in (("tls13", "tls1_3"), ("tls12", "tls1_2")):
            for mode in ("new", "reuse"):
                rates = [measure.s_time(("127.0.0.1", handshake_ports[version]), flag, mode,
                                        s["s_time"])
                         for _ in range(s["s_time_rounds"])]
                got = [x for x in rates if x is not None]
                st[f"{version}-{mode}"] = got
                if got:
                    table.add(f"openssl s_time -{mode} {version}", "connections/s",
                              report.summary(got), unit="/s")
        data["s_time"] = st
    else:
        warnings.warn("openssl not found: no s_time reference", RuntimeWarning, stacklevel=1)
    return data


def _bridge(table: report.Table, s: Dict[str, Any], ca_file: str, ports: Dict[str, int],
            handshake_ports: Dict[str, int]) -> Dict[str, Any]:
    """create_ssl_context in asyncio's transport vs a plain ssl.SSLContext (bench/bridge.py)."""
    samples = bridge.run(ca_file, ("127.0.0.1", handshake_ports["tls13"]),
                         ("127.0.0.1", ports["tls13"]), clients.PING, s["rounds"],
                         s["handshakes"], s["bulk_small"] // 2)
    for kind, unit, target in (("handshakes", "/s", 0.97), ("bulk up", "MiB/s", 0.97),
                               ("bulk down", "MiB/s", 0.97)):
        label = ("asyncio full handshakes/s TLS 1.3" if kind == "handshakes"
                 else f"asyncio {kind} 64KiB chunks MiB/s")
        by_variant = samples[kind]
        for name, values in by_variant.items():
            if name == bridge.REFERENCE:
                continue
            goal = target if name.endswith("[stdlib]") else None
            table.add(label, f"{name} / {bridge.REFERENCE}",
                      report.ratio(values, by_variant[bridge.REFERENCE]), goal)
        for name, values in by_variant.items():
            table.add(label, name, report.summary(values), unit=unit)
    return samples


def _stapled(table: report.Table, address: Tuple[str, int], ca_file: str,
             s: Dict[str, Any]) -> Dict[str, Any]:
    """Full handshakes with a stapled OCSP response, tlsplug checking it vs raw pyOpenSSL.

    Like for like: ``raw-pyopenssl-stapled`` asks for the status and checks the staple by
    hand (RFC 6960 §3.2, ``bench.clients``) on every handshake; tlsplug asks, checks the
    first staple in full and a staple seen before by its bytes and the clock
    (``ChainFacts.check_staple``). Also against ``raw-pyopenssl`` not asking at all: what
    stapling costs whoever checks it (the server's CertificateStatus, OpenSSL's parse).
    """
    probe = clients.Client("tlsplug-pyopenssl", ca_file, False).open(address)
    status = probe.tls.ocsp_status
    probe.close()
    if status != "good (staple)":
        raise RuntimeError(f"the stapling server's response was not used: {status!r}")
    trio = ["raw-pyopenssl", "raw-pyopenssl-stapled", "tlsplug-pyopenssl"]
    got = measure.handshakes(trio, address, ca_file, False, s["rounds"], s["handshakes"])
    rate = got["rate"]
    metric = "stapled-OCSP handshakes/s"
    table.add(metric, "tlsplug-pyopenssl / raw-pyopenssl-stapled (both check the staple)",
              report.ratio(rate["tlsplug-pyopenssl"], rate["raw-pyopenssl-stapled"]), 0.95)
    table.add(metric, "tlsplug-pyopenssl stapled / raw-pyopenssl not asking",
              report.ratio(rate["tlsplug-pyopenssl"], rate["raw-pyopenssl"]), 0.95)
    table.add(metric, "raw-pyopenssl-stapled / raw-pyopenssl not asking (by hand)",
              report.ratio(rate["raw-pyopenssl-stapled"], rate["raw-pyopenssl"]))
    labels = {"raw-pyopenssl": "no staple", "raw-pyopenssl-stapled": "staple checked by hand",
              "tlsplug-pyopenssl": "staple checked"}
    for v in trio:
        table.add(metric, f"{v} ({labels[v]})", report.summary(rate[v]), unit="/s")
    return got
