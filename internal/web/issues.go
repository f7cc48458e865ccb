package web

// issueRoutes registers the Issues pages.
func (s *Server) issueRoutes() {}
