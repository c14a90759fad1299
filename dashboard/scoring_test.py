"""How outputs are offered: plain CSV when small, gzip above the limit, the same bytes."""

import gzip

from dashboard import scoring


def test_a_small_output_is_plain_csv_and_a_large_one_gzip_of_the_same_bytes(tmp_path):
    path = tmp_path / "scored.csv"
    text = "probability,clicked,line\n" + "".join(f"0.{i:06d},0,{i + 2}\n" for i in range(5000))
    path.write_text(text)
    plain = scoring.download(path, "ads-predictions.csv")
    assert (plain.file_name, plain.mime, plain.compressed) == (
        "ads-predictions.csv", "text/csv", False)
    assert plain.data() == text.encode()
    packed = scoring.download(path, "ads-predictions.csv", plain_max=path.stat().st_size - 1)
    assert (packed.file_name, packed.mime, packed.compressed) == (
        "ads-predictions.csv.gz", "application/gzip", True)
    data = packed.data()
    assert gzip.decompress(data) == text.encode()
    assert len(data) < path.stat().st_size / 2
