# Type stubs of the pyscann package: the names __init__.py loads lazily from _index and _pyscann.
from typing import Optional, Tuple, Union

from ._pyscann import (
    METRICS as METRICS,
    CancelledError as CancelledError,
    DimensionError as DimensionError,
    EmptyIndexError as EmptyIndexError,
    Error as Error,
    FileError as FileError,
    FormatError as FormatError,
    InternalError as InternalError,
    InvalidArgumentError as InvalidArgumentError,
    InvalidDataError as InvalidDataError,
    NotTrainedError as NotTrainedError,
    OutOfMemoryError as OutOfMemoryError,
    UnsupportedError as UnsupportedError,
    blas_num_threads as blas_num_threads,
    scann_version as scann_version,
    set_blas_single_thread as set_blas_single_thread,
)
from ._pyscann import Index as _Index

__version__: str
SPEC_KEYS: Tuple[str, ...]

def build_spec(spec: str = ..., **params: Union[int, float, str, None]) -> str: ...

class Index(_Index):
    def __init__(
        self,
        spec: str = ...,
        dim: Optional[int] = ...,
        metric: str = ...,
        threads: Optional[int] = ...,
        **params: Union[int, float, str, None],
    ) -> None: ...
    def __len__(self) -> int: ...
