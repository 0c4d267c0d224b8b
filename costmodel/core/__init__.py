"""The ground floor: units, canonical symbols, errors, input checks, counting conventions,
atomic JSON files and lazy re-exports. Imports nothing else of costmodel.
"""
