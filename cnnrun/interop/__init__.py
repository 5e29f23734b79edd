"""Other tools' files read without their libraries."""
