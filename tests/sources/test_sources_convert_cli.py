def test_cli_convert_reports_summary(tmp_path, capsys):
    from dexego.cli import main

    assert main(["convert", "egodex", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "input directory not found" in capsys.readouterr().err
