package file

// openedInput makes fd, an input opened by openNoFollow, a rawFile: an
// *os.File would cost a fcntl(2) and an epoll_ctl(2) more per input (see
// rawFile).
func openedInput(fd int, path string) inputFile { return newRawFile(fd, path) }
