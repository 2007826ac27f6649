"""CSV import: the dry run checks every row and changes nothing; the real run does what the
dry run said, in one transaction; bad files are refused whole and bad rows one by one."""

import io
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from batches.csv_import import CsvRefused, import_roles
from onboarding.models import Role, RoleDocument, RoleState
from tests.factories import CompanyFactory, force_state, ready_role

pytestmark = pytest.mark.django_db
HEADER = "company,role_name,draup_role,occupation,job_family,jd\n"


def csv_of(*lines: str) -> bytes:
    return (HEADER + "\n".join(lines) + "\n").encode()


def zip_of(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name.replace("_", "."), content)
    return buffer.getvalue()


@pytest.fixture
def acme():
    return CompanyFactory(name="Acme Corporation")


def test_the_dry_run_reports_every_row_and_changes_nothing_then_the_real_run_matches(acme):
    ready_role(
        company=acme,
        name="Data Scientist",
        draup_role_name="Data Science Specialist",
        occupation="",
        job_family="",
    )
    data = csv_of(
        'Acme Corporation,Product Manager,Product Management Lead,PM,Product,"# PM\nOwns the roadmap"',
        "Acme Corporation,Data Scientist,Data Science Specialist,,,",
        "Acme Corporation,Data Scientist,Other,,,dup",
        "Nobody Inc.,Clerk,Clerk,,,text",
        "Acme Corporation,Designer,Designer,,,",
        "Acme Corporation,Analyst,Analyst,,,https://files.example.com/analyst.pdf",
        "Acme Corporation,Writer,Writer,,,writer.docx",
    )
    zipped = zip_of(writer_docx=b"PK\x03\x04 a docx")
    before = (Role.objects.count(), RoleDocument.objects.count())
    dry = import_roles(csv_bytes=data, zip_bytes=zipped, dry_run=True)
    assert (Role.objects.count(), RoleDocument.objects.count()) == before
    summary = [(r.line, r.action, r.message.split(":")[0]) for r in dry.rows]
    assert summary == [
        (2, "created", ""),
        (3, "unchanged", ""),
        (4, "refused", "Duplicate of line 3."),
        (5, "refused", "Unknown company 'Nobody Inc.'"),
        (6, "refused", "Missing JD"),
        (7, "created", ""),
        (8, "created", ""),
    ]
    real = import_roles(csv_bytes=data, zip_bytes=zipped, dry_run=False)
    assert [(r.line, r.action) for r in real.rows] == [(r.line, r.action) for r in dry.rows]
    assert Role.objects.filter(company=acme).count() == 4
    pm = Role.objects.get(name="Product Manager")
    assert pm.draup_role_name == "Product Management Lead" and pm.documents.get().content.startswith("# PM")
    writer_jd = Role.objects.get(name="Writer").documents.get()
    assert writer_jd.format == "docx" and writer_jd.file.read().startswith(b"PK")
    assert Role.objects.get(name="Analyst").documents.get().uri.endswith("analyst.pdf")


def test_an_import_that_changes_a_ready_role_makes_it_stale(acme):
    role = force_state(ready_role(company=acme, name="Analyst"), RoleState.READY)
    report = import_roles(csv_bytes=csv_of("Acme Corporation,Analyst,New Mapping,,,A new JD"), dry_run=False)
    assert report.rows[0].action == "updated"
    role.refresh_from_db()
    assert role.state == RoleState.STALE and role.draup_role_name == "New Mapping"


def test_the_imported_roles_can_be_pushed_as_a_batch(acme):
    report = import_roles(
        csv_bytes=csv_of("Acme Corporation,Analyst,Analyst,,,The JD"), dry_run=False, push=True
    )
    assert report.batch is not None and report.batch.runs.count() == 1
    assert Role.objects.get(name="Analyst").state == RoleState.QUEUED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"company,role,jd\nAcme,PM,x\n", "header row must be exactly"),
        (HEADER.encode() + "Acme,Caf\xe9,x,,,jd\n".encode("latin-1"), "not UTF-8"),
        (b"", "file is empty"),
        (HEADER.encode(), "no roles"),
    ],
)
def test_a_bad_file_is_refused_whole_with_what_to_do(acme, data, message):
    with pytest.raises(CsvRefused, match=message):
        import_roles(csv_bytes=data, dry_run=False)
    assert not Role.objects.exists()


def test_10000_rows_are_refused_whole(acme):
    rows = [f"Acme Corporation,Role {i},Analyst,,,jd {i}" for i in range(10_000)]
    with pytest.raises(CsvRefused, match="10,000 roles; at most 5,000"):
        import_roles(csv_bytes=csv_of(*rows), dry_run=False)
    assert not Role.objects.exists()


def test_a_broken_zip_and_a_file_missing_from_the_zip_are_explained(acme):
    with pytest.raises(CsvRefused, match="zip file cannot be opened"):
        import_roles(csv_bytes=csv_of("Acme Corporation,A,A,,,a.pdf"), zip_bytes=b"not a zip", dry_run=True)
    report = import_roles(
        csv_bytes=csv_of("Acme Corporation,A,A,,,a.pdf"), zip_bytes=zip_of(b_pdf=b"%PDF"), dry_run=False
    )
    assert report.rows[0].action == "refused" and "not in the uploaded zip" in report.rows[0].message
    assert not Role.objects.exists()


def test_the_command_prints_the_report_and_refuses_a_bad_file(acme, tmp_path, capsys):
    good = tmp_path / "roles.csv"
    good.write_bytes(csv_of("Acme Corporation,Analyst,Analyst,,,The JD"))
    call_command("import_roles", str(good), "--dry-run")
    out = capsys.readouterr().out
    assert "created   Acme Corporation / Analyst" in out and "Dry run, nothing changed: 1 created" in out
    assert not Role.objects.exists()
    call_command("import_roles", str(good), "--push")
    assert "Pushed as batch-" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"nope\n")
    with pytest.raises(CommandError, match="header row"):
        call_command("import_roles", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_roles", str(tmp_path / "missing.csv"))


def test_the_admin_upload_page_checks_then_imports(admin_client, acme):
    url = reverse("admin:onboarding_role_import_csv")
    assert admin_client.get(url).status_code == 200
    upload = lambda: io.BytesIO(csv_of("Acme Corporation,Analyst,Analyst,,,The JD"))  # noqa: E731
    response = admin_client.post(url, {"csv_file": _named(upload(), "r.csv"), "_check": "1"})
    assert "Dry run: nothing was changed" in response.content.decode() and not Role.objects.exists()
    response = admin_client.post(url, {"csv_file": _named(upload(), "r.csv"), "_import": "1", "push": "on"})
    assert "Pushed as" in response.content.decode()
    assert Role.objects.get(name="Analyst").state == RoleState.QUEUED
    response = admin_client.post(url, {"csv_file": _named(io.BytesIO(b"x,y\n"), "bad.csv"), "_check": "1"})
    assert "header row must be exactly" in response.content.decode()


def _named(buffer, name):
    buffer.name = name
    return buffer
