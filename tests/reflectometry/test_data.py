"""load_data: every bad input is refused with a DataError saying what and where."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from shiftdesk.errors import DataError
from shiftdesk.reflectometry import ReflData, load_data
from shiftdesk.reflectometry import data as data_module

SIGMA_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.35482...

GOOD_ROWS = [
    (0.010, 0.90, 0.010, 0.0003),
    (0.020, 0.50, 0.010, 0.0006),
    (0.030, 0.10, 0.005, 0.0009),
    (0.040, 0.01, 0.001, 0.0012),
]


def _write(tmp_path: Path, text: str, name: str = "film.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(rows: list[tuple[float, ...]]) -> str:
    return "".join(" ".join(repr(v) for v in row) + "\n" for row in rows)


def _error(source: object, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        load_data(source, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# -- bad inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("ncols", [2, 5])
def test_wrong_number_of_columns_is_refused_with_the_line(tmp_path: Path, ncols: int) -> None:
    rows = [tuple(0.01 * (i + 1) + 0.001 * j for j in range(ncols)) for i in range(4)]
    path = _write(tmp_path, "# Q R dR dQ\n" + _rows(rows))
    message = _error(path)
    assert "film.txt" in message
    assert "line 2" in message  # the first data line, after the comment
    assert f"found {ncols} column(s)" in message


def test_row_with_a_different_column_count_is_refused(tmp_path: Path) -> None:
    lines = _rows(GOOD_ROWS[:2]) + "0.03 0.1 0.005\n" + _rows(GOOD_ROWS[3:])
    message = _error(_write(tmp_path, lines))
    assert "line 3" in message
    assert "3 column(s) where earlier rows have 4" in message


def test_text_in_a_numeric_column_names_the_line_and_the_text(tmp_path: Path) -> None:
    text = "# comment\n" + _rows(GOOD_ROWS[:2]) + "0.03 abc 0.005 0.0009\n" + _rows(GOOD_ROWS[3:])
    message = _error(_write(tmp_path, text))
    assert "film.txt, line 4" in message
    assert "'abc' is not a number" in message


@pytest.mark.parametrize(
    ("column", "bad", "label"),
    [(1, "nan", "R"), (1, "inf", "R"), (2, "nan", "dR"), (0, "inf", "Q"), (3, "-inf", "dQ")],
)
def test_nan_and_inf_are_refused(tmp_path: Path, column: int, bad: str, label: str) -> None:
    rows = [list(map(repr, row)) for row in GOOD_ROWS]
    rows[2][column] = bad
    text = "# two lines of\n# header\n" + "".join(" ".join(r) + "\n" for r in rows)
    message = _error(_write(tmp_path, text))
    # the third point is on line 5 of the file
    assert message.startswith(f"film.txt: {label} is not a finite number (NaN or inf) at line(s) 5")


@pytest.mark.parametrize("dr", [0.0, -0.01])
def test_zero_or_negative_dr_is_refused(tmp_path: Path, dr: float) -> None:
    rows = [list(row) for row in GOOD_ROWS]
    rows[1][2] = dr
    message = _error(_write(tmp_path, "Q R dR dQ\n" + _rows([tuple(r) for r in rows])))
    assert message.startswith("film.txt: dR must be positive")
    assert "line(s) 3 have dR ≤ 0" in message


def test_invalid_rows_are_refused_unless_dropped(tmp_path: Path) -> None:
    rows = [list(row) for row in GOOD_ROWS]
    rows[2][1] = -0.001
    rows[3][2] = 0.0  # and one zero dR
    path = _write(tmp_path, _rows([tuple(r) for r in rows]))
    assert "dR must be positive" in _error(path)

    data = load_data(path, drop_invalid=True)
    assert len(data) == 2
    assert data.meta["dropped"] == "2"
    np.testing.assert_array_equal(data.q, [0.01, 0.02])

    clean = load_data(_write(tmp_path, _rows(GOOD_ROWS), "clean.txt"), drop_invalid=True)
    assert "dropped" not in clean.meta


def test_negative_r_message(tmp_path: Path) -> None:
    rows = [list(row) for row in GOOD_ROWS]
    rows[2][1] = -0.001
    message = _error(_write(tmp_path, "#\n" + _rows([tuple(r) for r in rows])))
    assert message.startswith("film.txt: R is negative at line(s) 4")
    assert "drop_invalid=True" in message


def test_unsorted_q_is_refused_unless_sorted(tmp_path: Path) -> None:
    rows = [GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1], GOOD_ROWS[3]]
    path = _write(tmp_path, _rows(rows))
    message = _error(path)
    assert message.startswith("film.txt: Q is not sorted: line(s) 3 (Q = 0.02)")
    assert "sort=True" in message

    data = load_data(path, sort=True)
    np.testing.assert_array_equal(data.q, [r[0] for r in GOOD_ROWS])
    # the other columns travel with their Q
    np.testing.assert_array_equal(data.r, [r[1] for r in GOOD_ROWS])
    np.testing.assert_array_equal(data.dq, [r[3] for r in GOOD_ROWS])


def test_duplicate_q_is_refused(tmp_path: Path) -> None:
    rows = [GOOD_ROWS[0], GOOD_ROWS[1], (0.02, 0.45, 0.01, 0.0006), GOOD_ROWS[3]]
    message = _error(_write(tmp_path, "# header\n" + _rows(rows)))
    assert message.startswith("film.txt: duplicate Q values at line(s) 4")
    assert "Q = 0.02" in message
    # sorting cannot fix duplicates
    with pytest.raises(DataError, match="duplicate Q"):
        load_data(_write(tmp_path, _rows(rows), "again.txt"), sort=True)


@pytest.mark.parametrize("text", ["", "   \n\n  \t\n"])
def test_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    message = _error(_write(tmp_path, text))
    assert "film.txt is empty" in message


def test_comments_only_file_is_refused(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "# Q R dR dQ\n# nothing measured\n\n"))
    assert "film.txt" in message
    assert "no data rows" in message


def test_file_over_50_mb_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    with open(path, "wb") as handle:
        handle.truncate(51 * 1024 * 1024)  # sparse: no disk used
    message = _error(path)
    assert str(path) in message
    assert "53.5 MB" in message
    assert "over 50 MB" in message


def test_bytes_over_the_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    content = _rows(GOOD_ROWS).encode()
    assert len(load_data(content, filename="upload.txt")) == 4
    monkeypatch.setattr(data_module, "MAX_FILE_BYTES", len(content) - 1)
    message = _error(content, filename="big.txt")
    assert "big.txt" in message
    assert "refused" in message
    monkeypatch.setattr(data_module, "MAX_FILE_BYTES", len(content))
    assert len(load_data(content, filename="upload.txt")) == 4


def test_missing_path_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    message = _error(missing)
    assert message == f"no such data file: {missing}"
    assert "no such data file" in _error(str(missing))


def test_file_contents_passed_as_a_path_are_refused() -> None:
    message = _error(_rows(GOOD_ROWS))
    assert "text with line breaks instead of a file path" in message
    assert "filename=" in message


def test_unusable_path_is_refused(tmp_path: Path) -> None:
    message = _error(str(tmp_path / ("x" * 5000)))
    assert message.startswith("cannot read ")
    assert "File name too long" in message


def test_folder_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path)
    assert message == f"{tmp_path} is a folder, not a data file"


def test_binary_content_is_refused(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256))
    path = tmp_path / "picture.txt"
    path.write_bytes(png)
    assert "picture.txt looks like a binary file" in _error(path)
    assert "up.dat looks like a binary file" in _error(png, filename="up.dat")


def test_bad_orso_file_is_refused() -> None:
    message = _error(b"# not an orso header\n0.01 1 0.1\n", filename="bad.ort")
    assert "bad.ort" in message
    assert "ORSO" in message


# -- good inputs --------------------------------------------------------------------------


def test_four_columns_keep_dq_as_fwhm(tmp_path: Path) -> None:
    data = load_data(_write(tmp_path, "# Q R dR dQ\n" + _rows(GOOD_ROWS)))
    assert isinstance(data, ReflData)
    assert data.name == "film"
    assert data.source == "film.txt"
    np.testing.assert_array_equal(data.q, [r[0] for r in GOOD_ROWS])
    np.testing.assert_array_equal(data.r, [r[1] for r in GOOD_ROWS])
    np.testing.assert_array_equal(data.dr, [r[2] for r in GOOD_ROWS])
    np.testing.assert_array_equal(data.dq, [r[3] for r in GOOD_ROWS])
    # σ = FWHM / (2 sqrt(2 ln 2)) = FWHM / 2.35482...
    np.testing.assert_allclose(data.dq_sigma, data.dq / 2.3548200450309493, rtol=1e-14)
    assert data.q_range == (0.01, 0.04)


def test_three_columns_get_three_percent_dq(tmp_path: Path) -> None:
    rows = [row[:3] for row in GOOD_ROWS]
    data = load_data(_write(tmp_path, _rows(rows)))
    np.testing.assert_allclose(data.dq, 0.03 * data.q, rtol=1e-14)
    wider = load_data(_write(tmp_path, _rows(rows), "w.txt"), dq_fraction=0.05)
    np.testing.assert_allclose(wider.dq, 0.05 * wider.q, rtol=1e-14)


def test_header_line_is_skipped(tmp_path: Path) -> None:
    data = load_data(_write(tmp_path, "Q R dR dQ\n" + _rows(GOOD_ROWS)))
    assert len(data) == 4
    np.testing.assert_array_equal(data.q, [r[0] for r in GOOD_ROWS])


def test_text_after_data_is_not_taken_for_a_header(tmp_path: Path) -> None:
    text = _rows(GOOD_ROWS[:2]) + "Q R dR dQ\n" + _rows(GOOD_ROWS[2:])
    assert "line 3" in _error(_write(tmp_path, text))


def test_comma_separated(tmp_path: Path) -> None:
    text = "Q,R,dR,dQ\n" + "".join(",".join(repr(v) for v in row) + "\n" for row in GOOD_ROWS)
    data = load_data(_write(tmp_path, text, "film.csv"))
    np.testing.assert_array_equal(data.r, [r[1] for r in GOOD_ROWS])
    np.testing.assert_array_equal(data.dq, [r[3] for r in GOOD_ROWS])


def test_tabs_and_trailing_comments(tmp_path: Path) -> None:
    text = "".join("\t".join(repr(v) for v in row) + "  # ok\n" for row in GOOD_ROWS)
    data = load_data(_write(tmp_path, text))
    np.testing.assert_array_equal(data.dr, [r[2] for r in GOOD_ROWS])


def test_utf8_byte_order_mark_is_accepted() -> None:
    """Excel and Notepad write CSV files starting with a BOM."""
    content = "\ufeff".encode() + _rows(GOOD_ROWS).encode()
    data = load_data(content, filename="excel.csv")
    np.testing.assert_array_equal(data.q, [r[0] for r in GOOD_ROWS])


def test_bytes_upload_with_filename() -> None:
    content = ("# uploaded\n" + _rows(GOOD_ROWS)).encode()
    data = load_data(content, filename="run42.dat")
    assert data.name == "run42"
    assert data.source == "run42.dat"
    assert len(data) == 4
    named = load_data(content, filename="run42.dat", name="silicon")
    assert named.name == "silicon"


def test_to_text_round_trip(tmp_path: Path) -> None:
    data = load_data(_write(tmp_path, _rows(GOOD_ROWS)))
    again = load_data(data.to_text().encode(), filename="again.txt")
    for attr in ("q", "r", "dr", "dq"):
        np.testing.assert_allclose(getattr(again, attr), getattr(data, attr), rtol=1e-9)
    assert again.fingerprint == data.fingerprint


def _orso_file(
    path: Path,
    q: np.ndarray,
    r: np.ndarray,
    dr: np.ndarray,
    dq: np.ndarray,
    value_is: str | None = None,
) -> None:
    from orsopy import fileio

    header = fileio.Orso.empty()
    header.columns = [
        fileio.Column("Qz", "1/angstrom"),
        fileio.Column("R"),
        fileio.ErrorColumn("R"),
        fileio.ErrorColumn("Qz", value_is=value_is),  # type: ignore[arg-type]
    ]
    fileio.save_orso([fileio.OrsoDataset(header, np.column_stack([q, r, dr, dq]))], str(path))


def test_orso_file_converts_sigma_to_fwhm(tmp_path: Path) -> None:
    q = np.linspace(0.01, 0.2, 20)
    r = np.exp(-40 * q)
    dr = 0.05 * r
    sq = 0.01 * q  # σ
    path = tmp_path / "film.ort"
    _orso_file(path, q, r, dr, sq)
    data = load_data(path)
    np.testing.assert_allclose(data.q, q, rtol=1e-12)
    np.testing.assert_allclose(data.r, r, rtol=1e-12)
    np.testing.assert_allclose(data.dr, dr, rtol=1e-12)
    np.testing.assert_allclose(data.dq, sq * SIGMA_TO_FWHM, rtol=1e-12)
    np.testing.assert_allclose(data.dq_sigma, sq, rtol=1e-12)

    # the same file uploaded as bytes
    uploaded = load_data(path.read_bytes(), filename="upload.ort")
    np.testing.assert_allclose(uploaded.dq, data.dq, rtol=0)


def test_orso_file_with_fwhm_resolution_is_kept(tmp_path: Path) -> None:
    q = np.linspace(0.01, 0.2, 20)
    r = np.exp(-40 * q)
    fwhm = 0.02 * q
    path = tmp_path / "fwhm.ort"
    _orso_file(path, q, r, 0.05 * r, fwhm, value_is="FWHM")
    data = load_data(path)
    np.testing.assert_allclose(data.dq, fwhm, rtol=1e-12)


def test_refldata_refuses_bad_arrays() -> None:
    q = np.array([0.01, 0.02, 0.03])
    ones = np.ones(3)
    with pytest.raises(DataError, match="same length"):
        ReflData(q=q, r=ones[:2], dr=ones, dq=ones)
    with pytest.raises(DataError, match="only one data point"):
        ReflData(q=q[:1], r=ones[:1], dr=ones[:1], dq=ones[:1])
    with pytest.raises(DataError, match="Q must be positive; point"):
        ReflData(q=np.array([0.0, 0.01, 0.02]), r=ones, dr=ones, dq=ones)
    with pytest.raises(DataError, match="dQ is negative at point"):
        ReflData(q=q, r=ones, dr=ones, dq=np.array([0.001, -0.001, 0.001]))
