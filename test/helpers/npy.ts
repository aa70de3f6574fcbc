// The tests read and write fixtures with the package's own .npy module.
export { formatNpy, parseNpy, readNpy, writeNpy } from '../../lib/io/npy';
