"""Storage exceptions: every one is an :class:`hpsearch.errors.HpsearchError`.

User mistakes (a bad URL, a database at the wrong schema revision) subclass
:class:`hpsearch.errors.UserInputError` so the command line prints them as one line. No message
ever contains a database password: URLs are shown through :func:`hpsearch.storage.mask_url`.
"""

from __future__ import annotations

from hpsearch.errors import HpsearchError, UserInputError


class StorageError(HpsearchError):
    """Root of the storage errors; also wraps unexpected SQLAlchemy/driver errors."""


class BadDatabaseURLError(StorageError, UserInputError):
    """The storage URL cannot be parsed, names an unsupported driver, or is refused by the server
    (wrong password, unknown database)."""


class DatabaseNotFoundError(StorageError, UserInputError):
    """A read-only command named a SQLite file that does not exist (nothing was created)."""


class DatabaseUnavailableError(StorageError):
    """The database could not be reached, or stayed locked/disconnected after every retry: it
    may come back (a server restarting, a lock held for long)."""


class DatabaseLostError(StorageError):
    """The SQLite file a storage opened was removed or replaced while it was open: nothing more
    can be written to it (writes would go to a file no one can read again). Not retried."""


class CorruptDatabaseError(StorageError):
    """The file is not one hpsearch can read: not a SQLite database, or a damaged one ("database
    disk image is malformed", "malformed database schema"). Every
    command reports it the same way (exit code 1, like an unreachable database): nothing in the
    URL is wrong, the data is."""


class SchemaVersionError(StorageError, UserInputError):
    """The database schema is not at the revision this hpsearch expects."""


class SearchNotFoundError(StorageError, UserInputError, LookupError):
    """No search with that name (or id)."""


class SearchExistsError(StorageError, UserInputError):
    """A search with that name already exists."""


class TrialNotFoundError(StorageError, LookupError):
    """No trial with that id (or search and number)."""


class ModelNotFoundError(StorageError, LookupError):
    """No saved model parameters for that trial."""


class LeaseHeldError(StorageError, UserInputError):
    """Another live driver (host and pid named in the message) holds the search's lease."""


class LeaseLostError(StorageError):
    """This driver no longer holds the search's lease (it expired and was taken over)."""
