// Loaded on every page: times in the browser's time zone, run colour swatches.
import { localTimes, paintSwatches } from "./util.js";

localTimes();
paintSwatches();
