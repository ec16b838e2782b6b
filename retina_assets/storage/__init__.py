"""Storage: lake layout, filesystems and the immutable, versioned dataset store."""
