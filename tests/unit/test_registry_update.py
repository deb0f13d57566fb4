"""Registry.update: values as parameters, column names only the table's own."""

import pytest


def test_update_sets_values_as_parameters(reg):
    with reg.write():
        reg.execute("INSERT INTO systems (name, created) VALUES ('web', 'x')")
        assert reg.update("systems", ("name", "web"), {"created": "'); DROP TABLE systems; --"}) == 1
    assert reg.query_one("SELECT created FROM systems")["created"] == "'); DROP TABLE systems; --"


@pytest.mark.parametrize("column", ["nosuch", "created = 'x', name", 'created" = 1 --'])
def test_update_refuses_a_column_the_table_does_not_have(reg, column):
    with pytest.raises(ValueError, match="has no column"), reg.write():
        reg.update("systems", ("name", "web"), {column: "x"})
