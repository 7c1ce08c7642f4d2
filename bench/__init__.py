"""tlsplug benchmarks (not tests): ratios against raw ``ssl``, raw pyOpenSSL and ``openssl``.

    python -m bench [--quick] [--rounds N] [--out DIR]

Modules: ``server`` (the TLS server, run in a separate process), ``clients`` (the client
variants: raw ssl, tlsplug on stdlib, raw pyOpenSSL, tlsplug on pyOpenSSL), ``measure``
(interleaved rounds), ``report`` (ratios, JSON, PNG chart), ``run`` (the command line).
"""
