"""Deprecated: moved to :mod:`blazecli.outputs.sinks`. Kept for one release."""

import warnings

from .outputs.sinks import (
                            SCHEMA,
                            CsvSink,
                            JsonlSink,
                            ParquetSink,
                            RowSink,
                            open_sink,
                            read_metadata,
                            rows_table,
)

__all__ = ["SCHEMA", "CsvSink", "JsonlSink", "ParquetSink", "RowSink", "open_sink",
           "read_metadata", "rows_table"]

warnings.warn("blazecli.sinks is deprecated: import from blazecli.outputs.sinks",
              DeprecationWarning, stacklevel=2)
