//! Unit tests of the sessions use cases, with every port mocked.
