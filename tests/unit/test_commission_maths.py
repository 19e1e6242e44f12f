"""The commission's statistics against numbers worked out by hand (contract section 14)."""

from __future__ import annotations

import itertools
import math

import h3
import numpy as np
import pytest

from alert_rules.city import Zone
from commission.cells import StudyArea, locate, outline
from commission.hotspots import benjamini_hochberg, gi_star, hotspots, hotspots_of_counts, two_sided_p
from commission.interventions import Counts, compare
from commission.trends import cell_trends, complete_weeks, iso_week, mann_kendall, trend_of, week_start

TIGRE = Zone(id="z", polygon=[[-58.60, -34.45], [-58.55, -34.45], [-58.55, -34.40], [-58.60, -34.40]])


def line_of_four() -> list[int]:
    """Four cells in a straight row A-B-C-D: each touches only the cells beside it."""
    a = h3.latlng_to_cell(-34.42, -58.58, 9)
    path = h3.grid_path_cells(a, next(iter(h3.grid_ring(a, 3))))
    assert len(path) == 4 and not h3.are_neighbor_cells(path[0], path[2])
    return [h3.str_to_int(c) for c in path]


HAND_Z = [3 * math.sqrt(3 / 11), 3 / math.sqrt(11), -5 / math.sqrt(11), -3 * math.sqrt(3 / 11)]


def test_gi_star_on_a_hand_computed_row_of_cells() -> None:
    # x = [4, 2, 0, 0]: n = 4, m = 1.5, s = sqrt(20/4 − 2.25) = sqrt(11/4); W = [2, 3, 3, 2], S = [6, 6, 2, 0].
    # A: (6 − 3) / (s·sqrt((8 − 4)/3)) = 3·sqrt(3/11); B: 1.5 / (s·1) = 3/sqrt(11); C: −2.5/s = −5/sqrt(11).
    a, b, c, d = 0, 1, 2, 3
    rows = np.array([a, a, b, b, b, c, c, c, d, d])
    cols = np.array([a, b, a, b, c, b, c, d, c, d])
    assert gi_star(np.array([4, 2, 0, 0]), rows, cols) == pytest.approx(HAND_Z)


def test_the_study_area_weights_a_row_of_cells_like_the_hand_computation() -> None:
    row = line_of_four()
    area = StudyArea.of_cells(row, 9)
    incidents = np.array([row[0]] * 4 + [row[1]] * 2, dtype=np.int64)
    result = hotspots(area, incidents)
    at = area.index(np.array(row, dtype=np.int64))
    assert result.counts[at].tolist() == [4, 2, 0, 0]
    assert result.z[at] == pytest.approx(HAND_Z)
    assert result.classes == ["none"] * 4  # p of the largest |z| (1.567) is 0.117: nothing is significant


def test_z_is_zero_without_spread_and_where_a_cell_sees_the_whole_area() -> None:
    rows, cols = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    assert list(gi_star(np.array([3, 3]), rows, cols)) == [0, 0]
    assert list(gi_star(np.array([5, 1]), rows, cols)) == [0, 0]  # W = n for both: 0/0


def test_two_sided_normal_p() -> None:
    assert two_sided_p(np.array([0.0, 1.959964, -1.959964, 2.575829])) == pytest.approx([1, 0.05, 0.05, 0.01], abs=1e-6)


@pytest.mark.parametrize(("p", "expected"), [
    ([0.01, 0.04, 0.03, 0.2], [True, False, False, False]),     # 0.03 > 2/4·0.05
    ([0.01, 0.02, 0.03, 0.5], [True, True, True, False]),
    ([0.03, 0.02, 0.036, 0.9], [True, True, True, False]),     # step-up: 0.036 ≤ 3/4·0.05 carries the smaller two
    ([0.5, 0.6], [False, False]),
])
def test_benjamini_hochberg_by_hand(p: list[float], expected: list[bool]) -> None:
    assert benjamini_hochberg(np.array(p)).tolist() == expected


def test_the_study_area_is_every_cell_whose_centre_is_in_a_zone() -> None:
    area = StudyArea.of_zones([TIGRE], 9)
    assert area.n > 100
    for cell in area.names()[:: max(1, area.n // 20)]:
        lat, lon = h3.cell_to_latlng(cell)
        assert TIGRE.contains(lat, lon)
    far = locate([-34.0], [-58.0], 9)
    assert area.index(far).tolist() == [-1]


def test_a_planted_cluster_is_found() -> None:
    area = StudyArea.of_zones([TIGRE], 9)
    rng = np.random.default_rng(7)
    counts = rng.poisson(2.0, area.n)
    centre = int(area.cells[area.n // 2])
    cluster = area.index(np.array(h3.api.basic_int.grid_disk(centre, 1), dtype=np.int64))
    counts[cluster] += 12
    result = hotspots_of_counts(area, counts)
    hot = set(np.nonzero(result.hot)[0].tolist())
    assert area.n // 2 in hot
    assert len(hot & set(cluster.tolist())) >= 5
    assert len(hot - set(cluster.tolist())) <= 6  # the ring-2 cells see the cluster too, nothing far away


def test_uniform_random_incidents_give_at_most_the_fdr_share_of_false_cells() -> None:
    area = StudyArea.of_zones([TIGRE], 9)
    seeds, any_found, false_cells = 1000, 0, 0
    for seed in range(seeds):
        counts = np.random.default_rng(seed).multinomial(8 * area.n, np.full(area.n, 1 / area.n))
        found = np.array([c != "none" for c in hotspots_of_counts(area, counts).classes])
        any_found += bool(found.any())
        false_cells += int(found.sum())
    # Under the global null BH's FDR is the chance of any discovery, q = 0.05; three standard errors over
    # 1000 seeds allow 0.07 (raw p < 0.05 would flag about 5 % of the cells in every seed).
    assert any_found / seeds <= 0.07
    assert false_cells / (seeds * area.n) <= 0.05 / 10


def test_incidents_outside_the_study_area_are_counted_apart() -> None:
    area = StudyArea.of_zones([TIGRE], 9)
    cells = locate(np.array([-34.42, -34.42, -10.0]), np.array([-58.58, -58.58, -60.0]), 9)
    result = hotspots(area, cells, unlocated=4)
    assert (result.incidents, result.outside, result.unlocated) == (2, 1, 4)


def test_a_cell_outline_is_a_closed_counter_clockwise_lon_lat_ring() -> None:
    cell = h3.latlng_to_cell(-34.42, -58.58, 9)
    ring = outline(cell)
    assert ring[0] == ring[-1] and len(ring) == 7
    assert all(-59 < lon < -58 and -35 < lat < -34 for lon, lat in ring)
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    assert area2 > 0  # RFC 7946: exterior rings are counter-clockwise


def test_mann_kendall_by_hand() -> None:
    # 1..5: S = 10, Var = 5·4·15/18 = 16.667, Z = 9/sqrt(16.667) = 2.2045, p = 0.0275, tau = 1.
    s, var, tau, p = mann_kendall([1, 2, 3, 4, 5])
    assert (s, tau) == (10, 1.0)
    assert var == pytest.approx(300 / 18)
    assert p == pytest.approx(0.02749, abs=2e-5)
    assert trend_of(s, p) == "increasing"
    # 1,1,2,2,3: S = 8; two ties of 2 take 2·(2·1·9) = 36: Var = (300 − 36)/18; Z = 7/sqrt(14.667) = 1.8278, p = 0.0676.
    s, var, tau, p = mann_kendall([1, 1, 2, 2, 3])
    assert (s, tau) == (8, 0.8)
    assert var == pytest.approx(264 / 18)
    assert p == pytest.approx(0.06758, abs=2e-5)
    assert trend_of(s, p) == "none"
    s, _, tau, p = mann_kendall([5, 4, 3, 2, 1])
    assert (s, tau, trend_of(s, p)) == (-10, -1.0, "decreasing")
    assert mann_kendall([2, 2, 2, 2]) == (0, 0.0, 0.0, 1.0)


def test_cell_trends_keep_cells_with_ten_incidents_and_say_whether_they_are_hot() -> None:
    area = StudyArea.of_zones([TIGRE], 9)
    rising, quiet, few = (int(c) for c in area.cells[[area.n // 2, 3, 10]])
    cells, weeks = [], []
    for week in range(12):
        cells += [rising] * (week + 1)
        weeks += [week] * (week + 1)
    cells += [quiet] * 12
    weeks += list(range(12))
    cells += [few] * 9
    weeks += [0] * 9
    found = cell_trends(area, np.array(cells, dtype=np.int64), np.array(weeks, dtype=np.int64), 12)
    by_cell = {t.cell: t for t in found}
    assert set(by_cell) == {h3.int_to_str(rising), h3.int_to_str(quiet)}
    up = by_cell[h3.int_to_str(rising)]
    assert (up.incidents, up.trend, up.tau, up.hot) == (78, "increasing", 1.0, True)
    flat = by_cell[h3.int_to_str(quiet)]
    assert (flat.trend, flat.p, flat.hot) == ("none", 1.0, False)


def test_complete_iso_weeks_end_before_to() -> None:
    from datetime import UTC, datetime

    wednesday = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert week_start(wednesday) == datetime(2026, 11, 23, tzinfo=UTC)
    assert complete_weeks(2, wednesday) == (datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert complete_weeks(1, monday) == (datetime(2026, 11, 16, tzinfo=UTC), monday)
    assert iso_week(wednesday) == "2026-W48"
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"


def test_rate_ratio_by_hand() -> None:
    # (20/40)/(90/100) = 0.5556; ln = −0.58779; se = sqrt(1/20 + 1/40 + 1/90 + 1/100) = 0.31002;
    # 95 %: exp(−0.58779 ∓ 0.60763) = 0.3026 .. 1.0200; z = −1.8960, p = 0.0580.
    result = compare(Counts(before=40, after=20), Counts(before=100, after=90))
    assert result.rate_ratio == pytest.approx(0.55556, abs=1e-5)
    assert result.ci95 == pytest.approx([0.30260, 1.02005], abs=1e-4)
    assert result.p == pytest.approx(0.05797, abs=1e-4)
    assert result.reason is None


def test_a_zero_count_gives_nulls_and_a_reason() -> None:
    result = compare(Counts(before=0, after=3), Counts(before=10, after=12))
    assert (result.rate_ratio, result.ci95, result.p) == (None, None, None)
    assert result.reason and "treated before" in result.reason
