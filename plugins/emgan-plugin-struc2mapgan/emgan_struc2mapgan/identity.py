"""Sequence-identity clusters of map–model pairs, and a train/validation/test split that keeps
every cluster whole.

The struc2mapGAN paper keeps one structure of any group above 30 % sequence identity so that the
sets do not share proteins. Here two pairs are linked when a polymer chain of one and a chain of
the other are ≥ ``threshold`` % identical; a cluster is a connected group of linked pairs (single
linkage), and each cluster goes whole into one set, so no two sets share a chain at or above the
threshold.

Identity (percent) of two chains: gemmi's global alignment (``gemmi.align_string_sequences``)
with identity scoring (match +1, mismatch −1, gap opening −10, gap extension −1) and free end gaps
on the longer chain, then identical aligned residues / length of the shorter chain
(``AlignmentResult.calculate_identity()``). Free end gaps let a fragment align to its place in a
whole chain; the gap opening penalty keeps unrelated chains low. Chance levels measured with this
scoring on random sequences of 20 equiprobable residues (10 draws each): 28 vs 195 residues, mean
13 %, max 25 %; 100 vs 300, mean 14 %, max 18 %; 500 vs 500, mean 9 %, max 11 %. With gemmi's
default scoring (gap opening −1) a random 28-residue fragment scores 72 % against a 195-residue
chain, which is why the scoring is set here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import gemmi

from emgan_core.api import EmganError

SPLITS = ("train", "val", "test")


def _scoring() -> gemmi.AlignmentScoring:
    s = gemmi.AlignmentScoring()
    s.match, s.mismatch, s.gapo, s.gape = 1, -1, -10, -1
    return s


def chain_sequences(path: str | Path, min_length: int = 5) -> dict[str, str]:
    """One-letter sequences of the polymer chains of the first model of a PDB/mmCIF file.

    A chain's sequence is its modelled amino-acid and nucleotide residues in file order (water
    and ligands left out), so a fragment gives its own sequence, not its entity's full one; the
    residues are taken from the chain itself rather than gemmi's polymer span, which ends at the
    first chain break when a file has no TER records. Non-standard residues map to their parent's
    letter where gemmi knows it, else 'X'. Chains with fewer than ``min_length`` such residues
    (stray peptides) are left out.
    """
    path = Path(path)
    try:
        st = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError, OSError) as err:
        raise EmganError(f"not a readable PDB/mmCIF file ({err})", str(path)) from None
    if len(st) == 0:
        raise EmganError("no models", str(path))
    out = {}
    for chain in st[0]:
        names = []
        for res in chain:
            info = gemmi.find_tabulated_residue(res.name)
            if info is not None and (info.is_amino_acid() or info.is_nucleic_acid()):
                names.append(res.name)
        if len(names) >= min_length:
            out[chain.name] = gemmi.one_letter_code(names).upper()
    return out


def sequence_identity(a: str, b: str) -> float:
    """Percent identity of two one-letter sequences (module docstring: alignment and denominator)."""
    if not a or not b:
        return 0.0
    query, target = (a, b) if len(a) <= len(b) else (b, a)
    scoring = _scoring()
    gap_opening = [0] + [scoring.gapo] * (len(target) - 1) + [0]  # free before and after the target
    result = gemmi.align_string_sequences(list(query), list(target), gap_opening, scoring)
    return float(result.calculate_identity())


@dataclass
class Link:
    """The most identical chain pair between two pairs (indices into the pair list)."""

    i: int
    j: int
    identity: float
    chain_i: str
    chain_j: str


def pair_identities(sequences: list[dict[str, str]]) -> dict[tuple[int, int], Link]:
    """For every two pairs i < j, their most identical chains (percent). Identical sequences are
    aligned once."""
    cache: dict[tuple[str, str], float] = {}

    def ident(x: str, y: str) -> float:
        key = (x, y) if x <= y else (y, x)
        if key not in cache:
            cache[key] = 100.0 if x == y else sequence_identity(x, y)
        return cache[key]

    links = {}
    for i, j in itertools.combinations(range(len(sequences)), 2):
        best = Link(i, j, 0.0, "", "")
        for (ci, si), (cj, sj) in itertools.product(sequences[i].items(), sequences[j].items()):
            v = ident(si, sj)
            if v > best.identity:
                best = Link(i, j, v, ci, cj)
        links[(i, j)] = best
    return links


def identity_clusters(sequences: list[dict[str, str]], threshold: float = 30.0,
                      links: dict[tuple[int, int], Link] | None = None) -> list[int]:
    """Cluster number (1, 2, …, in order of first appearance) of each pair: connected groups of
    pairs sharing a chain at ≥ ``threshold`` % identity."""
    links = pair_identities(sequences) if links is None else links
    parent = list(range(len(sequences)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for (i, j), link in links.items():
        if link.identity >= threshold:
            a, b = root(i), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(k), len(numbers) + 1) for k in range(len(sequences))]


def assign_splits(clusters: list[int], pinned: list[str | None], weights: list[float] | None = None,
                  fractions: dict[str, float] | None = None, labels: list[str] | None = None,
                  links: dict[tuple[int, int], Link] | None = None) -> list[str]:
    """The set of each pair, the same for every pair of a cluster.

    A pair whose split is given (``pinned``) puts its whole cluster in that set; two pinned pairs
    of one cluster in different sets are an error. The other clusters go, largest first (by the
    summed ``weights``, e.g. 1 for a kept pair and 0 for a rejected one; ties by first
    appearance), to the set furthest below its share ``fractions`` of the total weight.
    """
    n = len(clusters)
    labels = labels or [str(k) for k in range(n)]
    weights = [1.0] * n if weights is None else list(weights)
    fractions = fractions or {"train": 0.8, "val": 0.1, "test": 0.1}
    if set(fractions) - set(SPLITS) or abs(sum(fractions.values()) - 1) > 1e-6 or min(fractions.values()) < 0:
        raise EmganError(f"split fractions must be train/val/test shares summing to 1, got {fractions}",
                         "split fractions")
    chosen: dict[int, tuple[str, int]] = {}
    for k, (c, s) in enumerate(zip(clusters, pinned)):
        if not s:
            continue
        if c in chosen and chosen[c][0] != s:
            other = chosen[c][1]
            why = ""
            if links is not None:
                link = links.get((min(k, other), max(k, other)))
                if link is not None and link.identity > 0:
                    why = f" (most identical chains between them: {link.identity:.1f} %)"
            raise EmganError(f"pairs {labels[other]} ({chosen[c][0]}) and {labels[k]} ({s}) are in one "
                             f"sequence-identity cluster{why}; give them the same split or leave "
                             f"one blank", "split")
        chosen.setdefault(c, (s, k))
    total = sum(weights)
    counts = {s: 0.0 for s in SPLITS}
    for k, c in enumerate(clusters):
        if c in chosen:
            counts[chosen[c][0]] += weights[k]
    free: dict[int, list[int]] = {}
    for k, c in enumerate(clusters):
        if c not in chosen:
            free.setdefault(c, []).append(k)
    order = sorted(free, key=lambda c: (-sum(weights[k] for k in free[c]), free[c][0]))
    for c in order:
        w = sum(weights[k] for k in free[c])
        split = max(SPLITS, key=lambda s: (fractions.get(s, 0.0) * total - counts[s], -SPLITS.index(s)))
        counts[split] += w
        chosen[c] = (split, free[c][0])
    return [chosen[c][0] for c in clusters]
