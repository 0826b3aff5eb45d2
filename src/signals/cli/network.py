"""``signals network build|import-osm|info``."""

from __future__ import annotations

import json

from signals.cli import _checks as C


def register(sub) -> None:
    p = sub.add_parser("network", help="build, import and inspect SUMO networks")
    nsub = p.add_subparsers(dest="network_command", metavar="ACTION")

    b = nsub.add_parser(
        "build", help="build a named network recipe (pilot-zone, v2x-corridor, ...)"
    )
    b.add_argument("name", help="recipe name: a file networks/NAME.toml")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--seed", type=C.seed, default=None, help="override the recipe's seed")
    b.set_defaults(func=_build)

    o = nsub.add_parser(
        "import-osm", help="convert an OpenStreetMap extract with signal-friendly options"
    )
    o.add_argument("osm", help="an .osm or .osm.xml file")
    o.add_argument("--out", required=True, help="output directory")
    o.set_defaults(func=_import_osm)

    i = nsub.add_parser("info", help="signals, movements, phases, lane-km, V2X km of a net")
    i.add_argument("net", help="a SUMO .net.xml")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=_info)


def _build(args) -> int:
    from signals.errors import check_out_dir
    from signals.netbuild import build

    check_out_dir(args.out)
    net = build(args.name, args.out, seed=args.seed)
    print(net)
    return 0


def _import_osm(args) -> int:
    from signals.errors import check_out_dir
    from signals.netbuild import import_osm

    check_out_dir(args.out)
    net = import_osm(args.osm, args.out)
    print(net)
    return 0


def _info(args) -> int:
    from signals.network import Network, count_signalized_intersections

    net = Network.from_sumo(args.net)
    info = net.summary()
    info["n_signalized_intersections"] = count_signalized_intersections(net)
    if args.json:
        print(json.dumps(info))
    else:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k:<{width}}  {v}")
    return 0
