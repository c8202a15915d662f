package node

import (
	"net/http"
	"slices"
	"strings"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// reservationsListMax bounds the holds GET /v1/reservations returns.
const reservationsListMax = 500

// reservationStatuses are the values GET /v1/reservations?status= takes.
var reservationStatuses = []string{ledger.ResActive, ledger.ResReleased, ledger.ResExpired, ledger.ResConfirmed, ledger.ResPlaced}

// reservationActions maps the body-less reservation actions to their command types.
var reservationActions = map[string]string{"extend": ledger.TypeExtend, "confirm": ledger.TypeConfirm, "expire": ledger.TypeExpire}

func (s *Server) registerReservationRoutes() {
	rw, rd := []string{RoleMatching}, []string{RoleMatching, RoleOperator, RoleFinance}
	s.handle(Route{Method: "POST", Pattern: "/v1/reservations", OperationID: "reserve", Roles: rw}, s.reserve)
	s.handle(Route{Method: "GET", Pattern: "/v1/reservations", OperationID: "listReservations", Roles: rd, Params: []string{"agency", "status"}}, s.reservations)
	s.handle(Route{Method: "GET", Pattern: "/v1/reservations/{id}", OperationID: "getReservation", Roles: rd}, s.getReservation)
	for _, a := range []string{"extend", "confirm", "expire"} {
		s.handle(Route{Method: "POST", Pattern: "/v1/reservations/{id}/" + a, OperationID: a + "Reservation", Roles: rw}, s.reservationAction(reservationActions[a]))
	}
	s.handle(Route{Method: "POST", Pattern: "/v1/reservations/{id}/release", OperationID: "releaseReservation", Roles: rw}, s.release)
	s.handle(Route{Method: "POST", Pattern: "/v1/reservations/{id}/place", OperationID: "placeReservation", Roles: rw}, s.place)
}

func (s *Server) reserve(r *http.Request, p Principal) (int, any, error) {
	var req protocol.ReserveRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeReserve, req)
}

func (s *Server) reservationAction(typ string) handlerFunc {
	return func(r *http.Request, p Principal) (int, any, error) {
		id, err := pathUint(r, "id")
		if err != nil {
			return 0, nil, err
		}
		if err := emptyBody(r); err != nil {
			return 0, nil, err
		}
		return s.propose(r, p, typ, ledger.ReservationPayload{ReservationID: id})
	}
}

func (s *Server) release(r *http.Request, p Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	var req protocol.ReleaseRequest
	if err := optionalBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id, Reason: req.Reason})
}

func (s *Server) place(r *http.Request, p Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	var req protocol.PlaceRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: req.MoveInDate})
}

func (s *Server) getReservation(r *http.Request, _ Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	res, err := s.cfg.Ledger.Reservation(id)
	return http.StatusOK, res, err
}

func (s *Server) reservations(r *http.Request, _ Principal) (int, any, error) {
	q := r.URL.Query()
	agency := q.Get("agency")
	if agency == "" {
		agency = s.cfg.Agency
	}
	status := q.Get("status")
	if status != "" && !slices.Contains(reservationStatuses, status) {
		return 0, nil, invalid("status", "status=%q: expected one of %s", status, strings.Join(reservationStatuses, ", "))
	}
	out, err := s.cfg.Ledger.ReservationsByAgency(agency, status, reservationsListMax)
	if out == nil {
		out = []ledger.Reservation{}
	}
	return http.StatusOK, out, err
}
