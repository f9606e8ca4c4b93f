"""
certs: a throwaway PKI for the TLS tests, made with the openssl command line.

Two CAs (the test CA and an unrelated one), certificates for PostgreSQL
(localhost and 127.0.0.1), for sluice's client side (localhost only, so that
verify-full against 127.0.0.1 fails as it must) and client certificates whose
CN is a user name. Keys are P-256 (fast to make and to use). Files are
readable by the unprivileged user that runs PostgreSQL when the tests run as
root; key files are 0600 as PostgreSQL demands.
"""

import os
import subprocess

from cluster import chown_tree, make_dir


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{p.stdout.decode(errors='replace')}")


class Certs:
    def __init__(self):
        self.dir = make_dir("sluice-it-certs-")
        self._serial = 1
        self.ca = self._ca("ca", "sluice test CA")
        self.other_ca = self._ca("other-ca", "some other CA")
        # PostgreSQL's certificate: both names sluice may use for it
        self.pg = self.issue("pg", "localhost", san="DNS:localhost,IP:127.0.0.1")
        # sluice's certificate for clients: localhost only
        self.sluice = self.issue("sluice", "localhost", san="DNS:localhost")
        self.sluice2 = self.issue("sluice2", "localhost", san="DNS:localhost")
        chown_tree(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "30",
                 "-subj", f"/CN={cn}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        os.chmod(self.path(f"{name}.key"), 0o600)
        return self.path(f"{name}.crt")

    def issue(self, name, cn, san=None, ca="ca"):
        """A key and certificate `name`.{key,crt} for CN=cn signed by `ca`; returns (crt, key)."""
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                 cwd=self.dir)
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if san:
                f.write(f"subjectAltName={san}\n")
        self._serial += 1
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                 "-set_serial", str(self._serial), "-out", f"{name}.crt", "-days", "30",
                 "-extfile", ext, cwd=self.dir)
        os.chmod(self.path(f"{name}.key"), 0o600)
        chown_tree(self.dir)
        return self.path(f"{name}.crt"), self.path(f"{name}.key")

    def client(self, user, ca="ca"):
        """A client certificate with CN=user (signed by `ca`); returns (crt, key)."""
        name = f"client-{user}-{ca}"
        if not os.path.exists(self.path(f"{name}.crt")):
            self.issue(name, user, ca=ca)
        return self.path(f"{name}.crt"), self.path(f"{name}.key")

    def sluice_settings(self, mode="require", server_mode=None):
        """sluice keys for TLS towards clients (and towards PostgreSQL when server_mode)."""
        s = {
            "client_tls_sslmode": mode,
            "client_tls_cert_file": self.sluice[0],
            "client_tls_key_file": self.sluice[1],
            "client_tls_ca_file": self.ca,
        }
        if server_mode:
            s["server_tls_sslmode"] = server_mode
            s["server_tls_ca_file"] = self.ca
        return s
