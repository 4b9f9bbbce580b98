import json
from pathlib import Path

import pytest

from ragbot.access.directory import PrincipalsDirectory
from ragbot.errors import InputError
from tests.conftest import REPO


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_the_example_users_map_is_read() -> None:
    directory = PrincipalsDirectory.from_file(REPO / "examples" / "principals.json")
    assert len(directory) == 6
    assert directory.principals_for("Ana@Kestrel.Example ") == (
        "*",
        "user:ana@kestrel.example",
        "group:hr",
        "group:people-leads",
    )
    assert "mei@kestrel.example" in directory


def test_unknown_users_get_only_everyone_and_themselves(tmp_path: Path) -> None:
    directory = PrincipalsDirectory.from_file(write(tmp_path / "p.json", {"users": {}}))
    assert len(directory) == 0
    assert directory.principals_for("New.Hire@Kestrel.example") == ("*", "user:new.hire@kestrel.example")
    assert directory.principals_for("  ") == ("*",)


def test_groups_keep_file_order_get_a_prefix_and_are_deduplicated(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.json",
        {"users": {"ana@x": ["hr", "group:hr", " people-leads ", "user:ana@x", "*", "user:boss@x"]}},
    )
    assert PrincipalsDirectory.from_file(path).principals_for("ana@x") == (
        "*",
        "user:ana@x",
        "group:hr",
        "group:people-leads",
        "user:boss@x",
    )


def test_a_scim_export_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "scim.json",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 4,
            "Resources": [
                {
                    "userName": "Ana@Kestrel.example",
                    "emails": [{"value": "ana@kestrel.example", "primary": True}, {"value": "ana.s@kestrel.example"}],
                    "groups": [{"display": "hr", "value": "6a1f"}, {"value": "people-leads"}, {"display": "group:hr"}],
                },
                {"userName": "joao", "emails": [{"value": "joao@kestrel.example"}]},
                {"userName": "liam@kestrel.example", "groups": [{"display": "Engineering"}]},
                {"userName": "gone@kestrel.example", "active": False, "groups": [{"display": "finance"}]},
            ],
        },
    )
    directory = PrincipalsDirectory.from_file(path)
    assert len(directory) == 5
    ana = ("group:hr", "group:people-leads")
    assert directory.principals_for("ana@kestrel.example")[2:] == ana
    assert directory.principals_for("ANA.S@kestrel.example") == ("*", "user:ana.s@kestrel.example", *ana)
    assert directory.principals_for("joao@kestrel.example") == ("*", "user:joao@kestrel.example")
    assert directory.principals_for("liam@kestrel.example")[2:] == ("group:Engineering",)
    assert directory.principals_for("gone@kestrel.example") == ("*", "user:gone@kestrel.example")


def test_a_csv_directory_is_read(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        "\ufeffEmail,Name,Groups\r\n"
        "ana@kestrel.example,Ana,group:hr; people-leads;\r\n"
        "\r\n"
        "Joao@Kestrel.example,João,\r\n"
        'mei@kestrel.example,"Mei, L.",engineering\r\n'.encode()
    )
    directory = PrincipalsDirectory.from_file(path)
    assert len(directory) == 3
    assert directory.principals_for("ana@kestrel.example")[2:] == ("group:hr", "group:people-leads")
    assert directory.principals_for("joao@kestrel.example") == ("*", "user:joao@kestrel.example")
    assert directory.principals_for("mei@kestrel.example")[2:] == ("group:engineering",)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.json", "{", "p.json: invalid JSON: "),
        ("p.json", [], "expected an object with a 'users' map or a SCIM 'Resources' list"),
        ("p.json", {"people": {}}, "expected an object with a 'users' map or a SCIM 'Resources' list"),
        ("p.json", {"users": ["ana@x"]}, "'users' must map emails to lists of groups"),
        ("p.json", {"users": {"ana@x": "group:hr"}}, "must be a list of groups"),
        ("p.json", {"users": {"ana": ["group:hr"]}}, '"ana" is not an email address'),
        ("p.json", {"users": {"ana@x": ["group:hr", ""]}}, "groups must be non-empty strings"),
        ("p.json", {"users": {"ana@x": [7]}}, "groups must be non-empty strings, got 7"),
        ("p.json", {"users": {"ana@x": ["group: "]}}, "has no name after the prefix"),
        ("p.json", {"users": {"ana@x": [], "ANA@x": []}}, "ana@x is listed more than once"),
        ("p.json", {"Resources": {"userName": "ana@x"}}, "'Resources' must be a list of users"),
        ("p.json", {"Resources": ["ana@x"]}, "Resources[0]: must be an object"),
        ("p.json", {"Resources": [{"userName": "ana"}]}, "Resources[0]: no email"),
        ("p.json", {"Resources": [{"emails": "ana@x"}]}, "'emails' must be a list"),
        ("p.json", {"Resources": [{"emails": [{"value": "not-an-email"}]}]}, "Resources[0]: \"not-an-email\" is not"),
        ("p.json", {"Resources": [{"userName": "a@x", "groups": "hr"}]}, "'groups' must be a list"),
        ("p.json", {"Resources": [{"userName": "a@x", "groups": [{"id": "1"}]}]}, "groups must be non-empty strings"),
        ("p.json", {"Resources": [{"userName": "a@x"}, {"emails": [{"value": "A@x"}]}]}, "listed more than once"),
        ("p.csv", "", "empty file; expected a header 'email,groups'"),
        ("p.csv", "mail,groups\n", "the header must name the columns 'email' and 'groups'"),
        ("p.csv", "email,groups\nana@x,hr,extra\n", "p.csv line 2: expected 2 columns, got 3"),
        ("p.csv", "email,groups\nana,hr\n", 'p.csv line 2: "ana" is not an email address'),
        ("p.yaml", "users: {}", "must be a .json or .csv file"),
    ],
)  # fmt: skip
def test_bad_directory_files_are_input_errors_with_a_one_line_reason(
    tmp_path: Path, name: str, content: object, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        PrincipalsDirectory.from_file(write(tmp_path / name, content))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_and_undecodable_directory_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such principals directory file"):
        PrincipalsDirectory.from_file(tmp_path / "missing.json")
    (tmp_path / "latin.csv").write_bytes(b"email,groups\ncaf\xe9@x,hr\n")
    with pytest.raises(InputError, match="latin.csv: not UTF-8 text"):
        PrincipalsDirectory.from_file(tmp_path / "latin.csv")
    with pytest.raises(InputError, match="cannot read principals directory"):
        PrincipalsDirectory.from_file(tmp_path)
