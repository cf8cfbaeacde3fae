"""The multi-agency store: the data contract, its vocabulary, and DuckDB I/O."""

from store import (
    _quiet,  # noqa: F401  (before pandera is imported)
    codes,
    vocabulary,
)
from store.contract import (
    OPTIONAL_COLUMNS,
    SCHEMAS,
    STATUTORY_REFERRAL_COLUMNS,
    TABLES,
    ContractError,
    Problem,
    summarise,
    validate_tables,
)
from store.database import (
    TRUTH_SCHEMA,
    StoreBusyError,
    connect,
    content_hash,
    contract_version,
    create_schema,
    get_meta,
    set_meta,
    table_counts,
    write_tables,
)
from store.load import (
    Extract,
    LoadReport,
    load_extracts,
    load_tables,
    read_directory,
    read_extracts,
)

__all__ = [
    "OPTIONAL_COLUMNS",
    "Extract",
    "LoadReport",
    "StoreBusyError",
    "codes",
    "load_tables",
    "read_directory",
    "summarise",
    "SCHEMAS",
    "STATUTORY_REFERRAL_COLUMNS",
    "TABLES",
    "TRUTH_SCHEMA",
    "ContractError",
    "Problem",
    "connect",
    "content_hash",
    "contract_version",
    "create_schema",
    "get_meta",
    "load_extracts",
    "read_extracts",
    "set_meta",
    "table_counts",
    "validate_tables",
    "vocabulary",
    "write_tables",
]
