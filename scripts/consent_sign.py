#!/usr/bin/env python
"""Sign, verify or print the canonical form of a trailguard consent record (approvals vars file).

  consent_sign.py sign -k ~/.ssh/id_ed25519 approvals.yml [-o signed.yml]
  consent_sign.py verify -a allowed_signers approvals.yml
  consent_sign.py canonical approvals.yml

``sign`` runs ``ssh-keygen -Y sign -n trailguard-consent -f KEY`` over the canonical JSON of
``trailguard_consent`` without ``signature`` and ``awx`` and stores the armored signature in
``trailguard_consent.signature`` (the file is rewritten as plain YAML: comments are not kept).
``verify`` runs ``ssh-keygen -Y verify -f ALLOWED_SIGNERS -I <approved_by> -n trailguard-consent``,
exactly what the apply role does. See docs/consent.md.
"""

import argparse
import importlib.util
import sys
from pathlib import Path

import yaml

_CONSENT_PY = Path(__file__).resolve().parents[1] / "plugins" / "module_utils" / "_consent.py"


def _load_consent_module():
    spec = importlib.util.spec_from_file_location("trailguard_consent_utils", _CONSENT_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


consent = _load_consent_module()


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def _read(path):
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict) or not isinstance(data.get(consent.VARS_KEY), dict):
        raise SystemExit(f"{path}: not an approvals file (no {consent.VARS_KEY} mapping)")
    return data


def cmd_sign(args):
    data = _read(args.file)
    record = dict(data[consent.VARS_KEY])
    record.pop("signature", None)
    record["signature"] = consent.sign_record(record, args.key, ssh_keygen=args.ssh_keygen)
    data[consent.VARS_KEY] = record
    text = "---\n" + yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=200)
    with open(args.output or args.file, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"signed {consent.VARS_KEY} (sha256 {consent.consent_digest(record)}) -> {args.output or args.file}")
    return 0


def cmd_verify(args):
    data = _read(args.file)
    ok, message = consent.verify_signature(data, args.allowed_signers, ssh_keygen=args.ssh_keygen)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def cmd_canonical(args):
    sys.stdout.write(consent.canonical_json(_read(args.file)))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--ssh-keygen", default="ssh-keygen", help="ssh-keygen binary (default: from PATH)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sign", help="sign the record in FILE")
    p.add_argument("-k", "--key", required=True, help="private SSH key (ed25519 recommended)")
    p.add_argument("-o", "--output", help="write here instead of rewriting FILE")
    p.add_argument("file")
    p.set_defaults(func=cmd_sign)
    p = sub.add_parser("verify", help="verify the signature in FILE")
    p.add_argument("-a", "--allowed-signers", required=True, help="ssh allowed_signers file")
    p.add_argument("file")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("canonical", help="print the exact text that is signed")
    p.add_argument("file")
    p.set_defaults(func=cmd_canonical)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, OSError, TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
