"""newsseg annotate: the session (order, saving, resuming, retraining) and the web API through
Flask's test client (the token, escaping, paths); the browser test is test_annotate_browser."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from newsseg import dataset
from newsseg.annotate import INSTALL_HINT
from newsseg.annotate.server import STATIC, TOKEN_HEADER, create_app, is_loopback, new_token
from newsseg.annotate.session import (
    LOW_CONFIDENCE,
    document_uncertainty,
    labeled_dump_text,
    open_session,
)
from newsseg.cli import app
from newsseg.errors import InputError, NewssegError
from tests.conftest import TINY_PARAMS, labeled_lines

HOSTILE = '<script>document.title="owned"</script><img src=x onerror=alert(1)> & "quotes"'


def write_dumps(folder: Path, count: int = 3) -> list[Path]:
    """``count`` unlabeled dumps of the tiny corpus's kind, named ``page<n>.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        lines = [text for _, text in labeled_lines(n % 6, 1 - n % 2)]
        path = folder / f"page{n}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def true_labels(n: int) -> list[str]:
    return [label for label, _ in labeled_lines(n % 6, 1 - n % 2)]


@pytest.fixture
def dumps(tmp_path) -> Path:
    write_dumps(tmp_path / "dumps")
    return tmp_path / "dumps"


@pytest.fixture
def session(dumps, tmp_path, tiny_model_path):
    return open_session([dumps], tmp_path / "out", tiny_model_path, retrain_every=0)


@pytest.fixture
def client_and_token(session):
    token = new_token()
    return create_app(session, token).test_client(), token


# --------------------------------------------------------------------------- session


def test_uncertainty_is_the_expected_share_of_wrong_lines():
    assert document_uncertainty([1.0, 0.5]) == pytest.approx(0.25)
    assert document_uncertainty([]) == 0.0


def test_session_labels_every_document_with_the_model(session):
    assert [doc.name for doc in session.documents] == ["page0", "page1", "page2"]
    for doc in session.documents:
        assert len(doc.proposed) == len(doc.paragraphs) == len(doc.confidence)
        assert set(doc.proposed) <= set(session.labels)
        assert not doc.saved and doc.model == 0
    view = session.document_view(0)
    assert [p["low"] for p in view["paragraphs"]] == [
        p["confidence"] < LOW_CONFIDENCE for p in view["paragraphs"]
    ]
    assert session.state()["keys"] == {"headline": "1", "body": "2", "legal": "3", "teaser": "4"}


def test_uncertain_order_puts_the_least_certain_document_first(session):
    order = session.order()
    uncertainty = [session.documents[index].uncertainty for index in order]
    assert uncertainty == sorted(uncertainty, reverse=True)
    session.order_by = "input"
    assert session.order() == [0, 1, 2]


def test_save_writes_a_labeled_dump_that_train_reads(session, tmp_path):
    labels = true_labels(1)
    session.save(1, labels)
    target = tmp_path / "out" / "page1.tsv"
    paragraphs = session.documents[1].paragraphs
    assert target.read_text(encoding="utf-8") == labeled_dump_text(labels, paragraphs)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["page1.tsv"]  # no temporary left
    assert session.order()[-1] == 1  # saved documents come after those to do
    state = session.state()
    assert state["saved"] == 1
    assert state["changed_lines"] == sum(
        a != b for a, b in zip(labels, session.documents[1].proposed, strict=True)
    )
    # `newsseg train OUT` reads what the app saved, as it is.
    session.save(0, true_labels(0))
    model = tmp_path / "retrained.npz"
    result = CliRunner().invoke(app, ["train", str(tmp_path / "out"), "-o", str(model)])
    assert result.exit_code == 0, result.output
    assert "trained on 2 documents" in result.output


def test_save_refuses_wrong_labels_and_writes_nothing(session, tmp_path):
    doc = session.documents[0]
    with pytest.raises(NewssegError, match="one label for each"):
        session.save(0, ["body"])
    with pytest.raises(NewssegError, match="'advert' is not one of"):
        session.save(0, ["advert"] * len(doc.paragraphs))
    with pytest.raises(KeyError):
        session.save(7, [])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_new_session_resumes_and_overwrites_nothing(dumps, tmp_path, tiny_model_path):
    out = tmp_path / "out"
    first = open_session([dumps], out, tiny_model_path, retrain_every=0)
    labels = ["teaser"] * len(first.documents[2].paragraphs)
    first.save(2, labels)
    (out / "page0.tsv").write_text("body\tsome other page\n", encoding="utf-8")
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    again = open_session([dumps], out, tiny_model_path, retrain_every=0)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert again.documents[2].saved and again.documents[2].labels == labels
    assert again.document_view(2)["saved"] is True
    assert again.order()[-1] == 2
    other = again.documents[0]
    assert not other.saved and other.other_file  # kept until that document is saved
    again.save(0, other.proposed)
    assert (out / "page0.tsv").read_text(encoding="utf-8").startswith(f"{other.proposed[0]}\t")


def test_resuming_refuses_a_label_the_model_does_not_know(dumps, tmp_path, tiny_model_path):
    out = tmp_path / "out"
    out.mkdir()
    lines = (dumps / "page0.txt").read_text(encoding="utf-8").splitlines()
    (out / "page0.tsv").write_text("".join(f"advert\t{line}\n" for line in lines), "utf-8")
    with pytest.raises(InputError, match=r"page0.tsv:1: label 'advert'"):
        open_session([dumps], out, tiny_model_path)


def test_two_inputs_saved_under_one_name_are_an_error(tmp_path, tiny_model_path):
    write_dumps(tmp_path / "a", 1)
    write_dumps(tmp_path / "b", 1)
    with pytest.raises(InputError, match=r"would be saved as page0\.tsv"):
        open_session([tmp_path / "a", tmp_path / "b"], tmp_path / "out", tiny_model_path)


def test_table_doc_ids_cannot_leave_the_output_folder(tmp_path, tiny_model_path):
    table = tmp_path / "pages.csv"
    pd.DataFrame(
        {"doc_id": ["../../escape", "../../escape", "/etc/passwd"], "text": ["A", "B", "C"]}
    ).to_csv(table, index=False)
    out = tmp_path / "deep" / "out"
    run = open_session([table], out, tiny_model_path)
    assert [doc.name for doc in run.documents] == [".._.._escape", "_etc_passwd"]
    for doc in run.documents:
        run.save(doc.index, doc.proposed)
    assert sorted(p.name for p in out.iterdir()) == [".._.._escape.tsv", "_etc_passwd.tsv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "pages.csv"]


def test_retraining_relabels_the_unsaved_documents(dumps, tmp_path, tiny_model_path, tiny_corpus):
    run = open_session(
        [dumps],
        tmp_path / "out",
        tiny_model_path,
        base=[tiny_corpus],
        retrain_every=2,
        params=TINY_PARAMS,
    )
    run.save(0, true_labels(0))
    assert not run.training.running
    run.save(1, true_labels(1))  # the second saved document starts a training
    assert run.wait_for_training(timeout=300)
    state = run.state()
    assert state["training"]["error"] is None
    assert [model["id"] for model in state["models"]] == [0, 1]
    assert "trained on 2 saved + 12 base documents" in state["models"][1]["name"]
    assert state["saved_since_model"] == 0
    assert run.documents[2].model == 1  # relabeled
    assert [run.documents[i].model for i in (0, 1)] == [0, 0]  # saved: as proposed when saved
    assert run.document_view(2)["model"]["id"] == 1


def test_training_without_two_labels_says_why(session):
    session.save(0, ["body"] * len(session.documents[0].paragraphs))
    assert session.start_training()
    assert session.wait_for_training(timeout=60)
    assert "at least two different labels" in session.state()["training"]["error"]


# --------------------------------------------------------------------------- web API


def test_every_request_needs_the_token(client_and_token):
    client, token = client_and_token
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    assert client.get(f"/?token={token}").status_code == 200
    assert client.get("/api/state").status_code == 403
    assert client.get("/api/documents/0", headers={TOKEN_HEADER: "x" + token}).status_code == 403
    # A cross-site form can post, but not set the header: the token in a query is not enough.
    form = client.post(f"/api/documents/0?token={token}", data={"labels": "body"})
    assert form.status_code == 403
    assert client.post("/api/train").status_code == 403
    assert client.get("/api/state", headers={TOKEN_HEADER: token}).status_code == 200
    with client.get("/static/annotate.js") as script:  # the package's own code
        assert script.status_code == 200


def test_responses_forbid_other_origins_code(client_and_token):
    client, token = client_and_token
    response = client.get(f"/?token={token}")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_paragraphs_reach_the_page_as_data_never_as_html(tmp_path, tiny_model_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    (dumps / "hostile.txt").write_text(f"{HOSTILE}\nA body line.\n", encoding="utf-8")
    run = open_session([dumps], tmp_path / "out", tiny_model_path)
    token = new_token()
    client = create_app(run, token).test_client()
    page = client.get(f"/?token={token}").get_data(as_text=True)
    assert "<script>document" not in page and "onerror" not in page
    response = client.get("/api/documents/0", headers={TOKEN_HEADER: token})
    assert response.mimetype == "application/json"
    assert response.get_json()["paragraphs"][0]["text"] == HOSTILE
    script = (STATIC / "annotate.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_documents_are_addressed_by_number_only(client_and_token, tmp_path):
    client, token = client_and_token
    headers = {TOKEN_HEADER: token}
    for path in (
        "/api/documents/3",
        "/api/documents/-1",
        "/api/documents/page0",
        "/api/documents/..%2F..%2Fetc%2Fpasswd",
        "/api/documents/0/../../../etc/passwd",
        "/static/../session.py",
        "/static/..%2Fsession.py",
        "/static/%2Fetc%2Fpasswd",
    ):
        response = client.get(path, headers=headers, follow_redirects=True)
        assert response.status_code == 404, path
        assert "error" in response.get_json(), path
    # A body naming a path is ignored: the document number decides the file.
    doc = client.get("/api/documents/0", headers=headers).get_json()
    labels = [p["label"] for p in doc["paragraphs"]]
    body = {"labels": labels, "path": str(tmp_path / "elsewhere.tsv"), "name": "../x"}
    assert client.post("/api/documents/0", json=body, headers=headers).status_code == 200
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["page0.tsv"]
    assert not (tmp_path / "elsewhere.tsv").exists()


def test_saving_through_the_api(client_and_token, tmp_path):
    client, token = client_and_token
    headers = {TOKEN_HEADER: token}
    doc = client.get("/api/documents/1", headers=headers).get_json()
    labels = ["teaser"] * len(doc["paragraphs"])
    state = client.post("/api/documents/1", json={"labels": labels}, headers=headers).get_json()
    assert state["saved"] == 1 and state["documents"][-1]["index"] == 1
    saved = (tmp_path / "out" / "page1.tsv").read_text(encoding="utf-8").splitlines()
    assert saved == [f"teaser\t{p['text']}" for p in doc["paragraphs"]]
    reopened = client.get("/api/documents/1", headers=headers).get_json()
    assert reopened["saved"] and [p["label"] for p in reopened["paragraphs"]] == labels
    bad = client.post("/api/documents/1", json={"labels": ["teaser"]}, headers=headers)
    assert bad.status_code == 400 and "one label for each" in bad.get_json()["error"]
    not_json = client.post("/api/documents/1", data="labels", headers=headers)
    assert not_json.status_code == 400
    assert json.loads(not_json.get_data())["error"].startswith("send JSON")


def test_train_on_demand_through_the_api(session, client_and_token):
    client, token = client_and_token
    response = client.post("/api/train", headers={TOKEN_HEADER: token})
    assert response.status_code == 200 and response.get_json()["started"] is True
    assert session.wait_for_training(timeout=60)
    state = client.get("/api/state", headers={TOKEN_HEADER: token}).get_json()
    assert "at least two different labels" in state["training"]["error"]  # nothing saved yet


def test_serving_beyond_this_machine_warns(monkeypatch, session):
    from newsseg.annotate import server

    monkeypatch.setattr(server.AnnotationServer, "serve_forever", lambda self: None)
    said: list[str] = []
    server.run(session, host="0.0.0.0", port=0, open_browser=False, echo=said.append)
    assert said[0].startswith("warning: listening on 0.0.0.0: other machines can reach")
    assert said[-1].startswith("open http://0.0.0.0:") and "token=" in said[-1]
    said.clear()
    server.run(session, port=0, open_browser=False, echo=said.append)
    assert not any(line.startswith("warning") for line in said)
    assert said[-1].startswith("open http://127.0.0.1:")


def test_only_loopback_addresses_count_as_local():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


# --------------------------------------------------------------------------- command


def test_annotate_command_says_how_to_install_flask(monkeypatch, dumps, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "flask" else real(name, *a)
    )
    result = CliRunner().invoke(app, ["annotate", str(dumps), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"newsseg: error: {INSTALL_HINT}"


def test_annotate_command_errors_are_one_line(tmp_path, tiny_model_path):
    missing = tmp_path / "nothing-here"
    result = CliRunner().invoke(
        app, ["annotate", str(missing), "-o", str(tmp_path / "out"), "-m", str(tiny_model_path)]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == f"newsseg: error: {missing}: no such file or folder"


def test_annotate_functions_need_no_web_framework():
    """The session works without Flask: the benchmark and notebooks use it alone."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['flask'] = None\n"
        "import newsseg.annotate.session, newsseg.cli\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_label_dump_text_round_trips_through_the_reader(tmp_path):
    path = tmp_path / "x.tsv"
    paragraphs = ["Title", "Text with\ta tab", "© 2024"]
    path.write_text(labeled_dump_text(["headline", "body", "legal"], paragraphs), "utf-8")
    frame = dataset.read_labeled_dump(path)
    assert frame["text"].tolist() == paragraphs
    assert frame["label"].tolist() == ["headline", "body", "legal"]
