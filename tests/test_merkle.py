"""The checkpoints' Merkle tree is RFC 9162's, in ChatLedger and in the standalone verifier alike:
the reference test vectors of RFC 6962/9162 implementations, the RFC's recursive definition
against ChatLedger's level-by-level construction, and the second preimages the older tree
allowed (CVE-2012-2459: a duplicated last leaf; an inner node presented as a leaf)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from chatledger.infrastructure.security.proof_archive import VERIFIER
from chatledger.projections.merkle import (
    MerkleTree,
    head_leaves,
    inclusion_path,
    leaf_data,
    leaf_hash,
    legacy_merkle_root,
    merkle_root,
    node_hash,
    tree_levels,
    tree_root,
)

# Leaf inputs and the root of each tree size 0..8 (transparency-dev/merkle, testonly/constants.go;
# the same in certificate-transparency and trillian's rfc6962 tests).
LEAF_INPUTS = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
               "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Inclusion proofs (leaf index, tree size, path from the leaf up): transparency-dev/merkle,
# proof/verify_test.go.
INCLUSION_PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
SIZES = range(1, 70)  # every shape of the split up to a few powers of two


@pytest.fixture(scope="module")
def verifier() -> Iterator[ModuleType]:
    """The standalone verifier, loaded from its file as an auditor would run it (registered
    while it is used: its dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location("chatledger_verify", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def reference_leaves(size: int) -> list[bytes]:
    return [leaf_hash(data) for data in LEAF_INPUTS[:size]]


def numbered_leaves(size: int) -> list[bytes]:
    return [leaf_hash(number.to_bytes(2, "big")) for number in range(size)]


def test_roots_are_the_reference_vectors_in_chatledger_and_the_verifier(
    verifier: ModuleType,
) -> None:
    for size, root in enumerate(ROOTS):
        assert tree_root(reference_leaves(size)).hex() == root, size
        assert verifier.tree_hash(reference_leaves(size)).hex() == root, size
    assert verifier.leaf_hash(b"") == leaf_hash(b"") == bytes.fromhex(ROOTS[1])
    assert tree_root([]) == hashlib.sha256(b"").digest()


def test_inclusion_paths_are_the_reference_vectors(verifier: ModuleType) -> None:
    for index, size, expected in INCLUSION_PROOFS:
        leaves = reference_leaves(size)
        path = inclusion_path(tree_levels(leaves), index)
        assert [node.hex() for _, node in path] == expected, (index, size)
        reached = verifier.root_from_path(index, size, leaves[index], [n for _, n in path])
        assert reached is not None
        assert reached[0].hex() == ROOTS[size]
        assert reached[1] == [side for side, _ in path]


def test_the_level_by_level_tree_is_the_rfcs_recursive_one_for_every_size(
    verifier: ModuleType,
) -> None:
    """ChatLedger carries an odd node up level by level; the verifier splits at the largest
    power of two below n, as RFC 9162 2.1.1 defines it: the same root for every size."""
    for size in SIZES:
        leaves = numbered_leaves(size)
        assert tree_root(leaves) == verifier.tree_hash(leaves), size


def test_every_path_leads_to_the_root_and_only_from_its_own_place(verifier: ModuleType) -> None:
    for size in SIZES:
        leaves = numbered_leaves(size)
        levels, root = tree_levels(leaves), tree_root(leaves)
        for index in range(size):
            path = inclusion_path(levels, index)
            siblings = [node for _, node in path]
            reached = verifier.root_from_path(index, size, leaves[index], siblings)
            assert reached == (root, [side for side, _ in path]), (size, index)
            for other in {index ^ 1, index + 1, size}:  # another place, or past the end
                moved = verifier.root_from_path(other, size, leaves[index], siblings)
                assert moved is None or moved[0] != root or other == index, (size, index, other)
            if siblings:
                assert verifier.root_from_path(index, size, leaves[index], siblings[:-1]) != (
                    root, [side for side, _ in path][:-1])  # fmt: skip
                longer = verifier.root_from_path(index, size, leaves[index], [*siblings, root])
                assert longer is None or longer[0] != root


def test_a_duplicated_last_leaf_gives_another_root() -> None:
    """CVE-2012-2459: the older tree paired an odd last node with itself, so [a, b, c] and
    [a, b, c, c] had one root; RFC 9162's carries it up unpaired."""
    a, b, c = numbered_leaves(3)
    assert tree_root([a, b, c]) != tree_root([a, b, c, c])
    assert tree_root([a, b, c]) == node_hash(node_hash(a, b), c)


def test_the_older_tree_had_the_duplication_flaw(verifier: ModuleType) -> None:
    """Why format 3 exists: a checkpoint file of format 2 whose heads list the last chat twice
    gave its signed root; the verifier refuses a head listed twice in any format."""
    heads = {"c1": (1, "a" * 64), "c2": (2, "b" * 64), "c3": (3, "c" * 64)}
    rows = [[chat, version, head] for chat, (version, head) in sorted(heads.items())]
    doubled = [*rows, rows[-1]]
    older = verifier.older_tree_hash
    leaves = [verifier.head_leaf(*row, verifier.CHECKPOINT_2) for row in rows]
    assert older(leaves) == older([*leaves, leaves[-1]])  # the flaw itself
    assert verifier.merkle_root(rows, verifier.CHECKPOINT_2) == legacy_merkle_root(heads)
    assert verifier.merkle_root(doubled, verifier.CHECKPOINT_2) is None
    assert verifier.merkle_root(rows, verifier.CHECKPOINT_3) == merkle_root(heads)
    assert verifier.merkle_root(doubled, verifier.CHECKPOINT_3) is None


def test_an_inner_node_presented_as_a_leaf_does_not_give_the_root(verifier: ModuleType) -> None:
    """The leaf whose data is an inner node's left || right: hashed behind 0x00, it is not the
    node (hashed behind 0x01), so a shorter tree with it proves nothing of the longer one."""
    leaves = numbered_leaves(4)
    left, right = node_hash(*leaves[:2]), node_hash(*leaves[2:])
    assert leaf_hash(left + right) != tree_root(leaves)
    assert tree_root([leaf_hash(leaves[0] + leaves[1]), *leaves[2:]]) != tree_root(leaves)
    assert verifier.root_from_path(0, 2, leaf_hash(left + right), [right]) != (
        tree_root(leaves), ["right"])  # fmt: skip
    # In the older tree the same bytes, hashed as a leaf, were the node itself.
    older_leaf = hashlib.sha256(left + right).digest()
    assert older_leaf == verifier.older_tree_hash([left, right])


def test_a_chats_leaf_is_its_canonical_head_behind_the_leaf_prefix(verifier: ModuleType) -> None:
    heads = {"c1": (1, "51aa" + "0" * 60), "é": (2, "b" * 64)}
    assert leaf_data("c1", 1, "f" * 64) == b'["c1",1,"' + b"f" * 64 + b'"]'
    assert head_leaves(heads)[1] == hashlib.sha256(
        b'\x00["\\u00e9",2,"' + b"b" * 64 + b'"]').digest()  # fmt: skip
    rows = [[chat, version, head] for chat, (version, head) in heads.items()]
    assert verifier.merkle_root(rows, verifier.CHECKPOINT_3) == merkle_root(heads)
    tree = MerkleTree(heads)
    path = tree.path("é")
    assert (path.index, path.leaves) == (1, 2)
    assert path.steps == [("left", head_leaves(heads)[0].hex())]


def test_the_worked_example_of_the_specification() -> None:
    """docs/proof-format.md's example, so that the page and the code cannot drift apart."""
    heads = {
        "c1": (1, "51aa8677157da74ab1e3bd4534c0c3b17e6569ba38173900a9ef11646d8d4e16"),
        "c2": (2, "b" * 64),
        "c3": (5, "c" * 64),
    }
    assert merkle_root(heads) == "11e6fa57fed14ff3221cf7d22671b2963020fe2a425092777959f88bc666e315"
    assert MerkleTree(heads).path("c3").steps == [
        ("left", "51940589cc4051f36b63de268bc6f98d18447f0a55599f33cbd6699f61c91888")
    ]
    assert legacy_merkle_root(heads) == (
        "a9059e1d7ba24768ed4ced794a2a62c7e36a719df1dbb495541c1749567f6524"
    )
